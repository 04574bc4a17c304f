//! TLS against a real TLS-only `redis-server`: a throwaway CA and a server
//! certificate for 127.0.0.1 are made at test time with `openssl`; with
//! `tls_ca_file` naming that CA the store works over `rediss://`, without it
//! (public roots only) opening fails at once with a permanent error.
//!
//! A missing `openssl` or a `redis-server` without TLS fails these tests
//! with a message saying what to install; they never skip.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tq_backend_redis::{RedisBackend, RedisConfig};
use tq_core::{ErrorKind, KvStore, Row, Tensor, tag};
use tq_test_support::{RedisServer, TestCa, unique_prefix};

fn tls_server() -> (TestCa, RedisServer) {
    let ca = TestCa::generate().unwrap_or_else(|e| panic!("{e}"));
    let server = RedisServer::start_tls(&ca, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(server.url().starts_with("rediss://127.0.0.1:"));
    (ca, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca_round_trips() {
    let (ca, server) = tls_server();
    let config = RedisConfig::standalone(server.url())
        .with_tls_ca_file(ca.ca_file())
        .with_key_prefix(unique_prefix("tls"));
    let kv = KvStore::new(Arc::new(RedisBackend::open(config).await.unwrap()));
    let row = Row::new().with("x", Tensor::from_vec_1d(vec![1i64, 2, 3]));
    let meta = kv
        .kv_put("a", "p", Some(row), Some(tag! {"s" => 1}))
        .await
        .unwrap();
    assert_eq!(meta.fields, ["x"]);
    kv.kv_put("b", "p", None, Some(tag! {"s" => 2}))
        .await
        .unwrap();
    let batch = kv.kv_batch_get(&["a"], "p", None).await.unwrap();
    assert_eq!(batch.num_rows(), 1);
    // A 64 KiB cell lives under a key of its own: its transaction and the
    // read of hash and cell key go through redis-rs' pipelines on TLS.
    let big: Vec<f32> = (0..16 * 1024).map(|i| i as f32).collect();
    let row = Row::new()
        .with("big", Tensor::from_vec_1d(big.clone()))
        .with("x", Tensor::from_vec_1d(vec![7i64]));
    kv.kv_put("c", "p", Some(row), None).await.unwrap();
    let only_big = ["big"];
    for fields in [None, Some(&only_big as &dyn tq_core::FieldNames)] {
        let got = kv.kv_batch_get(&["c"], "p", fields).await.unwrap();
        let column = got.tensor("big").expect("the big column");
        let values = column.as_dense().expect("one row").to_vec::<f32>();
        assert_eq!(values.unwrap(), big);
    }
    let listing = kv.kv_list(Some("p")).await.unwrap();
    assert_eq!(listing["p"].keys().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(kv.kv_clear(&["a", "b", "c"], "p", None).await.unwrap(), 3);
    assert!(kv.kv_list(None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_without_the_ca_fails_permanently_and_fast() {
    let (_ca, server) = tls_server();
    let mut config =
        RedisConfig::standalone(server.url()).with_key_prefix(unique_prefix("tls-untrusted"));
    config.connect_timeout_ms = 2_000;
    config.command_timeout_ms = 2_000;
    let started = Instant::now();
    let outcome: tq_core::Result<()> = tokio::time::timeout(Duration::from_secs(30), async {
        let backend = RedisBackend::open(config).await?;
        // Should opening succeed lazily, the first operation must fail.
        KvStore::new(Arc::new(backend)).kv_list(None).await?;
        tq_core::Result::Ok(())
    })
    .await
    .expect("an untrusted TLS server must fail, not hang");
    let err = outcome.expect_err("a server certificate from an untrusted CA was accepted");
    assert!(!err.is_temporary(), "{err} / {err:?}");
    assert_eq!(err.kind(), ErrorKind::Config, "{err} / {err:?}");
    assert_eq!(err.context_value("setting"), Some("tls_ca_file"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_missing_ca_file_is_a_config_error_naming_setting_and_path() {
    let missing = std::env::temp_dir().join("tq-no-such-dir/ca.pem");
    let config = RedisConfig::standalone("rediss://127.0.0.1:1").with_tls_ca_file(&missing);
    let err = RedisBackend::open(config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(!err.is_temporary(), "{err}");
    assert_eq!(err.context_value("setting"), Some("tls_ca_file"), "{err}");
    let path = missing.display().to_string();
    assert_eq!(err.context_value("path"), Some(path.as_str()), "{err}");
    assert!(err.to_string().contains(&path), "{err}");

    // With a plain redis:// URL the setting is refused.
    let config = RedisConfig::standalone("redis://127.0.0.1:1").with_tls_ca_file(&missing);
    let err = RedisBackend::open(config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert_eq!(err.context_value("setting"), Some("tls_ca_file"), "{err}");
}
