//! Configuration and the backend registry.

use std::sync::Arc;

use tq_backend_memory::{MemoryBackend, MemoryConfig};
use tq_facade::{BackendRegistry, Config, ErrorKind, TransferQueue, tag};

mod secret_text;
use secret_text::{SECRET, all_text};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

#[test]
fn empty_config_is_the_memory_backend() {
    let config = Config::from_toml_str("").unwrap();
    assert_eq!(config.backend(), "memory");
    assert_eq!(config, Config::default());
    let tq = rt().block_on(TransferQueue::open(config)).unwrap();
    assert_eq!(tq.backend().name(), "memory");
}

#[test]
fn sections_are_parsed_and_passed_to_the_backend() {
    let config =
        Config::from_toml_str("backend = \"memory\"\n[memory]\ncapacity_bytes = 10\n").unwrap();
    let tq = rt().block_on(TransferQueue::open(config)).unwrap();
    let row = tq_facade::Row::new().with(
        "x",
        tq_facade::Tensor::from_vec(vec![0u8; 11], [11]).unwrap(),
    );
    let err = rt()
        .block_on(tq.kv_put("k", "p", Some(row), None))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CapacityExceeded);
}

#[test]
fn unknown_backend_is_a_config_error_listing_the_registered_ones() {
    let config = Config::from_toml_str("backend = \"cassandra\"").unwrap();
    let err = rt().block_on(TransferQueue::open(config)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    assert!(
        text.contains("cassandra") && text.contains("memory"),
        "{text}"
    );
}

#[test]
fn unknown_settings_are_rejected_by_name() {
    let cases = [
        ("[memory]\ncapacity_byte = 10\n", "capacity_byte"),
        ("backend = \"memory\"\ncolour = \"blue\"\n", "colour"),
        ("[memroy]\ncapacity_bytes = 10\n", "memroy"),
        ("[memory]\ncapacity_bytes = \"lots\"\n", "capacity_bytes"),
        ("backend = 3\n", "backend"),
    ];
    for (text, name) in cases {
        let err = Config::from_toml_str(text)
            .and_then(|c| BackendRegistry::default().validate(&c).map(|_| c))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{text}");
        assert!(err.to_string().contains(name), "{text}: {err}");
    }
    let err = Config::from_toml_str("not toml [").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[test]
fn missing_file_names_the_path() {
    let err = Config::from_file("/no/such/tq.toml").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("/no/such/tq.toml"), "{err}");
}

#[test]
fn environment_selects_file_and_overrides_backend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tq.toml");
    std::fs::write(
        &path,
        "backend = \"custom\"\n[memory]\ncapacity_bytes = 5\n",
    )
    .unwrap();
    let path_str = path.to_str().unwrap().to_owned();
    let lookup = |vars: &'static [(&'static str, &'static str)], file: String| {
        move |name: &str| {
            if name == "TQ_CONFIG" && vars.iter().any(|(k, _)| *k == "TQ_CONFIG") {
                return Some(file.clone());
            }
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    };
    let none = Config::from_lookup(lookup(&[], path_str.clone())).unwrap();
    assert_eq!(none, Config::default());
    let file = Config::from_lookup(lookup(&[("TQ_CONFIG", "")], path_str.clone())).unwrap();
    assert_eq!(file.backend(), "custom");
    assert_eq!(
        file.settings("memory").unwrap()["capacity_bytes"].as_integer(),
        Some(5)
    );
    let overridden = Config::from_lookup(lookup(
        &[("TQ_CONFIG", ""), ("TQ_BACKEND", "memory")],
        path_str.clone(),
    ))
    .unwrap();
    assert_eq!(overridden.backend(), "memory");
    assert!(
        overridden.settings("memory").is_some(),
        "the file's settings are kept"
    );
    let only_backend = Config::from_lookup(lookup(&[("TQ_BACKEND", "rocksdb")], path_str)).unwrap();
    assert_eq!(only_backend.backend(), "rocksdb");
}

#[test]
fn custom_backend_is_selected_from_the_file_like_a_builtin() {
    let mut registry = BackendRegistry::default();
    registry.register_typed("scratch", |c: MemoryConfig| async move {
        Ok(MemoryBackend::with_config(c))
    });
    let names: Vec<&str> = registry.names().collect();
    assert!(
        names.contains(&"scratch") && names.contains(&"memory"),
        "{names:?}"
    );
    assert!(names.is_sorted(), "{names:?}");
    let config =
        Config::from_toml_str("backend = \"scratch\"\n[scratch]\ncapacity_bytes = 100\n").unwrap();
    let tq = rt()
        .block_on(TransferQueue::open_with_registry(&registry, config))
        .unwrap();
    rt().block_on(tq.kv_put("k", "p", None, Some(tag! {"ok" => true})))
        .unwrap();
    // The built-in registry does not know it.
    let config = Config::from_toml_str("backend = \"scratch\"").unwrap();
    assert_eq!(
        rt().block_on(TransferQueue::open(config))
            .unwrap_err()
            .kind(),
        ErrorKind::Config
    );
    // A backend built in code needs no registry at all.
    let tq = TransferQueue::from_backend(Arc::new(MemoryBackend::new()));
    assert_eq!(tq.backend().name(), "memory");
}

#[test]
fn debug_output_never_shows_setting_values() {
    let config = Config::from_toml_str(
        "backend = \"memory\"\n[redis]\nurl = \"redis://user:hunter2@127.0.0.1:6379\"\npassword = \"hunter2\"\n",
    )
    .unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(
        debug.contains("password") && debug.contains("redis"),
        "{debug}"
    );
}

fn assert_hidden(toml: &str) {
    let err = match Config::from_toml_str(toml) {
        Err(e) => e,
        Ok(config) => {
            assert!(
                !format!("{config:?}").contains(SECRET),
                "Debug of {config:?}"
            );
            let registry = BackendRegistry::default();
            match registry.validate(&config) {
                Err(e) => e,
                Ok(()) => return,
            }
        }
    };
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(
        !all_text(&err).contains(SECRET),
        "the secret leaked: {}",
        all_text(&err)
    );
}

#[test]
fn a_toml_syntax_error_on_a_secret_line_does_not_echo_it() {
    for toml in [
        format!("backend = \"memory\"\n[redis]\npassword = {SECRET}\n"),
        format!("[redis]\npassword = \"{SECRET}\n"),
        format!("[redis]\nurl = \"redis://:{SECRET}@127.0.0.1:1\" oops\n"),
        format!("[redis]\npassword = '{SECRET}' = 1\n"),
    ] {
        assert_hidden(&toml);
    }
    // Where no secret is near, the error still says what is wrong.
    let err = Config::from_toml_str("backend = \"memory\"\n[memory]\ncapacity_bytes = = 1\n")
        .unwrap_err();
    assert!(err.to_string().contains("line 3"), "{err}");
}

#[test]
fn a_secret_of_the_wrong_type_or_in_the_wrong_setting_is_not_echoed() {
    assert_hidden("[memory]\ncapacity_bytes = \"hunter2-do-not-print\"\n");
    assert_hidden("[memory]\ncapacity_bytes = [\"hunter2-do-not-print\"]\n");
    let err = Config::from_toml_str("[memory]\ncapacity_bytes = \"hunter2-do-not-print\"\n")
        .and_then(|config| BackendRegistry::default().validate(&config))
        .unwrap_err();
    assert!(
        err.to_string().contains("capacity_bytes"),
        "names the setting: {err}"
    );
    assert!(
        err.to_string().contains("invalid type: string"),
        "says what is wrong: {err}"
    );
}

#[cfg(feature = "redis")]
#[test]
fn a_redis_password_of_the_wrong_type_is_not_echoed() {
    assert_hidden(
        "backend = \"redis\"\n[redis]\nurl = \"redis://127.0.0.1:1\"\npassword = 734529117\n",
    );
    let err = Config::from_toml_str(
        "backend = \"redis\"\n[redis]\nurl = \"redis://127.0.0.1:1\"\npassword = 734529117\n",
    )
    .and_then(|config| BackendRegistry::default().validate(&config))
    .unwrap_err();
    assert!(!all_text(&err).contains("734529117"), "{}", all_text(&err));
    assert!(
        err.to_string().contains("password"),
        "names the setting: {err}"
    );
}

#[test]
fn the_update_table_sets_how_kv_update_retries() {
    let config = Config::from_toml_str(
        "[update]\nmax_attempts = 3\ninitial_backoff_us = 50\nmax_backoff_us = 800\n",
    )
    .unwrap();
    let policy = config.update_policy();
    assert_eq!(policy.max_attempts, 3);
    assert_eq!(policy.initial_backoff, std::time::Duration::from_micros(50));
    assert_eq!(policy.max_backoff, std::time::Duration::from_micros(800));
    let tq = rt().block_on(TransferQueue::open(config.clone())).unwrap();
    assert_eq!(
        tq.store().update_policy(),
        policy,
        "the queue got the policy"
    );
    // Unset settings keep the defaults; no table is the default policy.
    let partial = Config::from_toml_str("[update]\nmax_attempts = 9\n").unwrap();
    assert_eq!(
        partial.update_policy(),
        tq_facade::UpdatePolicy::default().with_max_attempts(9)
    );
    assert_eq!(
        Config::from_toml_str("").unwrap().update_policy(),
        tq_facade::UpdatePolicy::default()
    );
}

#[test]
fn a_bad_update_table_is_a_config_error_naming_the_setting() {
    for (toml, setting) in [
        ("[update]\nbogus = 1\n", None),
        (
            "[update]\nmax_attempts = \"s3cret\"\n",
            Some("update.max_attempts"),
        ),
        ("[update]\nmax_attempts = 0\n", Some("update.max_attempts")),
        (
            "[update]\ninitial_backoff_us = 10\nmax_backoff_us = 5\n",
            Some("update.max_backoff_us"),
        ),
        ("update = 3\n", Some("update")),
    ] {
        let err = Config::from_toml_str(toml).expect_err(toml);
        assert_eq!(err.kind(), ErrorKind::Config, "{toml}: {err}");
        if let Some(setting) = setting {
            assert_eq!(err.context_value("setting"), Some(setting), "{toml}: {err}");
        }
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(err.to_string().contains("update"), "{err}");
    }
}

#[test]
fn the_wait_table_sets_how_often_kv_wait_polls_a_backend_that_does_not_push() {
    let config = Config::from_toml_str("[wait]\npoll_interval_ms = 25\n").unwrap();
    assert_eq!(
        config.poll_interval(),
        Some(std::time::Duration::from_millis(25))
    );
    let tq = rt().block_on(TransferQueue::open(config)).unwrap();
    assert_eq!(
        tq.store().poll_interval(),
        std::time::Duration::from_millis(25),
        "the queue got the interval"
    );
    // The memory backend pushes: it reports that, not the interval.
    assert_eq!(
        tq.capabilities().notifications,
        tq_facade::Notifications::InProcess
    );
    let default = Config::from_toml_str("").unwrap();
    assert_eq!(default.poll_interval(), None);
    let tq = rt().block_on(TransferQueue::open(default)).unwrap();
    assert_eq!(
        tq.store().poll_interval(),
        tq_facade::Notifications::DEFAULT_POLL_INTERVAL
    );
}

#[test]
fn a_bad_wait_table_is_a_config_error_naming_the_setting() {
    for (toml, setting) in [
        ("[wait]\nbogus = 1\n", None),
        (
            "[wait]\npoll_interval_ms = \"s3cret\"\n",
            Some("wait.poll_interval_ms"),
        ),
        (
            "[wait]\npoll_interval_ms = 0\n",
            Some("wait.poll_interval_ms"),
        ),
        ("wait = 3\n", Some("wait")),
    ] {
        let err = Config::from_toml_str(toml).expect_err(toml);
        assert_eq!(err.kind(), ErrorKind::Config, "{toml}: {err}");
        if let Some(setting) = setting {
            assert_eq!(err.context_value("setting"), Some(setting), "{toml}: {err}");
        }
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(err.to_string().contains("wait"), "{err}");
    }
}
