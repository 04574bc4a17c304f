//! Configs built in code from typed settings: they reach a backend exactly
//! as the same settings read from a file, and never show a password.
#![cfg(feature = "memory")]

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use tq_backend_memory::MemoryBackend;
use tq_facade::serde::de::DeserializeOwned;
use tq_facade::serde::{Deserialize, Serialize};
use tq_facade::{BackendRegistry, Config, ErrorKind, MemoryConfig, Row, Tensor, TransferQueue};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The settings a registry hands to the backend `name` when it opens
/// `config`: `name` is registered with a factory that keeps them (and opens
/// an in-memory store, so no server or directory is needed).
fn received<C>(name: &str, config: &Config) -> C
where
    C: DeserializeOwned + Send + 'static,
{
    let slot: Arc<Mutex<Option<C>>> = Arc::default();
    let mut registry = BackendRegistry::default();
    let keep = slot.clone();
    registry.register_typed(name, move |settings: C| {
        *keep.lock().unwrap() = Some(settings);
        async { Ok(MemoryBackend::new()) }
    });
    rt().block_on(registry.open(config))
        .unwrap_or_else(|e| panic!("{e}"));
    let settings = slot.lock().unwrap().take();
    settings.expect("the factory ran")
}

/// `typed` given in code, and `file` (the `[name]` table of a config file
/// holding the same settings), reach the backend as `typed`; so does the
/// table the typed path stores, written out as a file and read back.
fn assert_same_settings<C>(name: &str, typed: C, file: &str)
where
    C: DeserializeOwned + Serialize + Clone + PartialEq + Debug + Send + 'static,
{
    let in_code = Config::new(name).with_typed_settings(name, &typed);
    assert_eq!(received::<C>(name, &in_code), typed, "typed path");

    let from_file = Config::from_toml_str(&format!("backend = \"{name}\"\n[{name}]\n{file}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(received::<C>(name, &from_file), typed, "file path: {file}");

    let table = in_code.settings(name).expect("a settings table").clone();
    let written = format!(
        "backend = \"{name}\"\n[{name}]\n{}",
        tq_facade::toml::to_string(&table).unwrap()
    );
    let reread = Config::from_toml_str(&written).unwrap();
    assert_eq!(reread, in_code, "{written}");
    assert_eq!(received::<C>(name, &reread), typed, "{written}");
}

#[test]
fn memory_settings_in_code_and_in_a_file_are_the_same() {
    assert_same_settings("memory", MemoryConfig::new(), "");
    assert_same_settings(
        "memory",
        MemoryConfig::new().with_capacity_bytes(17_179_869_184),
        "capacity_bytes = 17179869184",
    );
    assert_same_settings(
        "memory",
        MemoryConfig::new().with_capacity_bytes(i64::MAX as u64),
        "capacity_bytes = 9223372036854775807",
    );
    // The same settings make the same Config, whichever way they came.
    let typed = Config::memory(MemoryConfig::new().with_capacity_bytes(10));
    assert_eq!(
        typed,
        Config::from_toml_str("backend = \"memory\"\n[memory]\ncapacity_bytes = 10").unwrap()
    );
    assert_eq!(
        Config::from(MemoryConfig::new().with_capacity_bytes(10)),
        typed
    );
}

#[test]
fn a_memory_config_in_code_opens_the_built_in_backend_with_its_settings() {
    let config = Config::memory(MemoryConfig::new().with_capacity_bytes(10));
    let rt = rt();
    let tq = rt.block_on(TransferQueue::open(config)).unwrap();
    assert_eq!(tq.backend().name(), "memory");
    let row = |n: usize| Row::new().with("x", Tensor::from_vec(vec![0u8; n], [n]).unwrap());
    rt.block_on(tq.kv_put("a", "p", Some(row(10)), None))
        .unwrap();
    let err = rt
        .block_on(tq.kv_put("b", "p", Some(row(1)), None))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CapacityExceeded, "{err}");
    // The blocking API takes the same Config.
    let blocking =
        tq_facade::blocking::TransferQueue::open(MemoryConfig::new().with_capacity_bytes(4))
            .unwrap();
    let err = blocking.kv_put("k", "p", Some(row(5)), None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CapacityExceeded, "{err}");
}

#[test]
fn typed_settings_of_a_custom_backend_round_trip() {
    /// Settings of a custom backend, derived through the facade's serde.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(crate = "tq_facade::serde", deny_unknown_fields)]
    struct TinyConfig {
        max_rows: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        ratio: f64,
        nodes: Vec<String>,
    }
    assert_same_settings(
        "tiny",
        TinyConfig {
            max_rows: 10,
            label: None,
            ratio: 0.25,
            nodes: vec!["a".into(), "b".into()],
        },
        "max_rows = 10\nratio = 0.25\nnodes = [\"a\", \"b\"]",
    );
    assert_same_settings(
        "tiny",
        TinyConfig {
            max_rows: 0,
            label: Some("x = \"y\"\n[z]".into()),
            ratio: f64::INFINITY,
            nodes: vec![],
        },
        "max_rows = 0\nlabel = \"x = \\\"y\\\"\\n[z]\"\nratio = inf\nnodes = []",
    );
    // Settings of a backend that is not selected stay there for TQ_BACKEND.
    let config = Config::memory(MemoryConfig::new()).with_typed_settings(
        "tiny",
        &TinyConfig {
            max_rows: 1,
            label: None,
            ratio: 1.0,
            nodes: vec![],
        },
    );
    assert_eq!(config.backend(), "memory");
    assert_eq!(config.sections().collect::<Vec<_>>(), ["memory", "tiny"]);
}

#[test]
fn settings_a_file_cannot_hold_are_a_config_error_naming_the_setting() {
    let rt = rt();
    let config = Config::memory(MemoryConfig::new().with_capacity_bytes(u64::MAX));
    assert!(format!("{config:?}").contains("unwritable"), "{config:?}");
    let err = rt
        .block_on(TransferQueue::open(config.clone()))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(!err.is_temporary());
    let text = err.to_string();
    assert!(
        text.contains("setting `capacity_bytes`") && text.contains("[memory]"),
        "{text}"
    );
    assert!(!text.contains("18446744073709551615"), "{text}");
    assert_eq!(err.context_value("backend"), Some("memory"));
    assert_eq!(err.context_value("setting"), Some("capacity_bytes"));
    // Settings given again replace the ones that could not be written.
    let fixed = config.with_typed_settings("memory", &MemoryConfig::new());
    assert_eq!(
        rt.block_on(TransferQueue::open(fixed.clone()))
            .unwrap()
            .backend()
            .name(),
        "memory"
    );
    let broken_again = fixed.with_typed_settings("memory", &42u32);
    let err = BackendRegistry::default()
        .validate(&broken_again)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("[memory]"), "{err}");
    let table = broken_again.with_settings("memory", tq_facade::toml::Table::new());
    BackendRegistry::default().validate(&table).unwrap();
    // A list holding a none, nested: TOML cannot say it; the path is named.
    #[derive(Serialize)]
    #[serde(crate = "tq_facade::serde")]
    struct Inner {
        list: Vec<Option<u8>>,
    }
    #[derive(Serialize)]
    #[serde(crate = "tq_facade::serde")]
    struct Outer {
        name: &'static str,
        inner: Inner,
    }
    let config = Config::new("memory").with_typed_settings(
        "memory",
        &Outer {
            name: "x",
            inner: Inner {
                list: vec![Some(1), None],
            },
        },
    );
    let err = BackendRegistry::default().validate(&config).unwrap_err();
    assert!(err.to_string().contains("setting `inner.list[1]`"), "{err}");
    // A backend that is not selected is checked too, as a file's table is.
    let other = Config::memory(MemoryConfig::new()).with_typed_settings(
        "memory2",
        &MemoryConfig::new().with_capacity_bytes(u64::MAX),
    );
    assert!(BackendRegistry::default().validate(&other).is_err());
}

#[test]
fn the_crates_of_public_signatures_are_re_exported() {
    // Settings tables, with no `toml` dependency of our own.
    let mut table = tq_facade::toml::Table::new();
    table.insert("capacity_bytes".into(), 64.into());
    let config = Config::new("memory").with_settings("memory", table);
    assert_eq!(
        config,
        Config::memory(MemoryConfig::new().with_capacity_bytes(64))
    );
    // Tags and listings, with no `serde_json` or `indexmap` of our own.
    let tag: tq_facade::Tag = tq_facade::tag!({"status": "new"});
    let value: &tq_facade::serde_json::Value = &tag["status"];
    assert_eq!(value, &tq_facade::serde_json::json!("new"));
    let rt = rt();
    let tq = rt.block_on(TransferQueue::open(config)).unwrap();
    rt.block_on(tq.kv_put("k", "p", None, Some(tag))).unwrap();
    let listing = rt.block_on(tq.kv_list(Some("p"))).unwrap();
    let keys: &tq_facade::indexmap::IndexMap<String, tq_facade::Tag> = &listing["p"];
    assert_eq!(keys["k"]["status"], "new");
    // The backends themselves.
    let tq = TransferQueue::from_backend(Arc::new(
        tq_facade::backends::memory::MemoryBackend::with_config(MemoryConfig::new()),
    ));
    assert_eq!(tq.backend().name(), "memory");
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;
    use tq_facade::RedisConfig;

    const URL_SECRET: &str = "url-pw-do-not-print";
    const SETTING_SECRET: &str = "setting-pw-do-not-print";

    /// Every text an error offers: `Display`, `Debug` and each source.
    fn all_text(err: &tq_facade::Error) -> String {
        let mut text = format!("{err} {err:?}");
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            text.push_str(&format!(" {s} {s:?}"));
            source = s.source();
        }
        text
    }

    fn assert_no_secret(text: &str) {
        for secret in [URL_SECRET, SETTING_SECRET] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }

    fn with_secrets() -> Vec<RedisConfig> {
        vec![
            RedisConfig::standalone(format!("redis://alice:{URL_SECRET}@127.0.0.1:1/0"))
                .with_password(SETTING_SECRET),
            RedisConfig::cluster([
                format!("redis://:{URL_SECRET}@127.0.0.1:1"),
                "redis://127.0.0.1:2".to_owned(),
            ])
            .with_password(SETTING_SECRET),
            RedisConfig::standalone(format!("redis+unix:///tmp/s?pass={URL_SECRET}"))
                .with_password(SETTING_SECRET),
        ]
    }

    #[test]
    fn redis_settings_in_code_and_in_a_file_are_the_same() {
        assert_same_settings(
            "redis",
            RedisConfig::standalone("redis://127.0.0.1:6379"),
            "url = \"redis://127.0.0.1:6379\"",
        );
        assert_same_settings(
            "redis",
            RedisConfig::cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])
                .with_buckets(64),
            "cluster_nodes = [\"redis://10.0.0.1:7000\", \"redis://10.0.0.2:7000\"]\nbuckets = 64",
        );
        assert_same_settings(
            "redis",
            RedisConfig::standalone("rediss://u:pw@db:6380/2")
                .with_username("bob")
                .with_password("pw2")
                .with_tls_ca_file("/etc/ca.pem")
                .with_key_prefix("run-7")
                .with_connect_timeout_ms(250)
                .with_command_timeout_ms(0)
                .with_buckets(3)
                .with_allow_evicting_policy(true),
            "url = \"rediss://u:pw@db:6380/2\"\nusername = \"bob\"\npassword = \"pw2\"\n\
             tls_ca_file = \"/etc/ca.pem\"\nkey_prefix = \"run-7\"\nconnect_timeout_ms = 250\n\
             command_timeout_ms = 0\nbuckets = 3\nallow_evicting_policy = true",
        );
        let config = RedisConfig::standalone("redis://h:1");
        assert_eq!(Config::from(config.clone()), Config::redis(config));
    }

    #[test]
    fn debug_of_a_redis_config_in_code_shows_no_password() {
        for config in with_secrets() {
            assert_no_secret(&format!("{config:?} {config:#?}"));
            let config = Config::redis(config);
            let shown = format!("{config:?} {config:#?}");
            assert_no_secret(&shown);
            assert!(shown.contains("password"), "names the settings: {shown}");
        }
    }

    #[test]
    fn errors_of_a_redis_config_in_code_show_no_password() {
        let rt = rt();
        for config in with_secrets() {
            // Refused before connecting: a setting is invalid.
            let bad = Config::redis(config.clone().with_key_prefix("a{b"));
            let err = rt.block_on(TransferQueue::open(bad)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{err}");
            assert_no_secret(&all_text(&err));
            // A setting a file cannot hold.
            let unwritable = Config::redis(config.clone().with_command_timeout_ms(u64::MAX));
            assert_no_secret(&format!("{unwritable:?}"));
            let err = rt.block_on(TransferQueue::open(unwritable)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{err}");
            assert!(err.to_string().contains("command_timeout_ms"), "{err}");
            assert_no_secret(&all_text(&err));
            // Nobody listens on port 1 (nor at /tmp/s): the connect fails.
            let config = Config::redis(config.with_connect_timeout_ms(500));
            let err = rt.block_on(TransferQueue::open(config)).unwrap_err();
            assert_no_secret(&all_text(&err));
        }
    }
}

#[cfg(feature = "rocksdb")]
mod rocksdb {
    use super::*;
    use tq_facade::RocksDbConfig;
    use tq_facade::backends::rocksdb::Compression;

    #[test]
    fn rocksdb_settings_in_code_and_in_a_file_are_the_same() {
        assert_same_settings(
            "rocksdb",
            RocksDbConfig::new("/var/lib/tq"),
            "path = \"/var/lib/tq\"",
        );
        assert_same_settings(
            "rocksdb",
            RocksDbConfig::new("/data/tq store")
                .with_create_if_missing(false)
                .with_sync_writes(false)
                .with_compression(Compression::Zstd)
                .with_block_cache_bytes(0)
                .with_write_buffer_bytes(1 << 20)
                .with_max_background_jobs(4)
                .with_max_open_files(256)
                .with_blob_files(false)
                .with_blob_min_bytes(4096),
            "path = \"/data/tq store\"\ncreate_if_missing = false\nsync_writes = false\n\
             compression = \"zstd\"\nblock_cache_bytes = 0\nwrite_buffer_bytes = 1048576\n\
             max_background_jobs = 4\nmax_open_files = 256\nblob_files = false\n\
             blob_min_bytes = 4096",
        );
    }

    #[test]
    fn a_rocksdb_config_in_code_opens_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let rt = rt();
        let config = RocksDbConfig::new(dir.path().join("store")).with_sync_writes(false);
        let tq = rt.block_on(TransferQueue::open(config.clone())).unwrap();
        assert_eq!(tq.backend().name(), "rocksdb");
        let row = Row::new().with("x", Tensor::from_vec(vec![1.5f32, 2.5], [2]).unwrap());
        rt.block_on(tq.kv_put("k", "p", Some(row), None)).unwrap();
        drop(tq);
        let tq = rt
            .block_on(TransferQueue::open(Config::rocksdb(config)))
            .unwrap();
        let got = rt.block_on(tq.kv_batch_get(&["k"], "p", None)).unwrap();
        let x = got.tensor("x").unwrap().row(0).unwrap();
        assert_eq!(&*x.to_cow::<f32>().unwrap(), &[1.5, 2.5]);
    }

    #[cfg(unix)]
    #[test]
    fn a_path_that_is_not_utf8_is_a_config_error_naming_it() {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::OsStr::from_bytes(b"/tmp/tq-\xff-store");
        let config = Config::rocksdb(RocksDbConfig::new(path));
        let err = rt().block_on(TransferQueue::open(config)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.to_string().contains("setting `path`"), "{err}");
    }
}
