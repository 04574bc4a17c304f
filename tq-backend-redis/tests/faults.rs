//! Faults: a server restart mid-run (temporary errors, then the same store
//! works again without reopening), a wrong password (permanent, names the
//! setting), an unreachable server, and values over the server's bulk limit
//! (rejected up front, nothing written).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tq_backend_redis::{RedisBackend, RedisConfig};
use tq_core::{Batch, ErrorKind, KvStore, NonTensor, Row, Tensor, tag};
use tq_test_support::{RedisServer, unique_prefix};

fn start(extra: &[&str]) -> RedisServer {
    RedisServer::start_with(extra).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_gives_temporary_errors_then_the_same_store_recovers() {
    let mut server = start(&[]);
    let config = RedisConfig::standalone(server.url())
        .with_key_prefix(unique_prefix("restart"))
        .with_command_timeout_ms(2_000);
    let kv = KvStore::new(Arc::new(RedisBackend::open(config).await.unwrap()));
    let row = || Row::new().with("x", Tensor::from_vec_1d(vec![1i64, 2, 3]));
    kv.kv_put("a", "p", Some(row()), Some(tag! {"s" => 1}))
        .await
        .unwrap();

    server.stop();
    let mut temporaries = 0;
    for op in 0..3 {
        let err = match op {
            0 => kv.kv_put("b", "p", Some(row()), None).await.unwrap_err(),
            1 => kv.kv_batch_get(&["a"], "p", None).await.unwrap_err(),
            _ => kv.kv_list(None).await.unwrap_err(),
        };
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(err.is_temporary(), "{err}");
        temporaries += 1;
    }
    assert_eq!(temporaries, 3);

    server.restart().unwrap();
    // The same KvStore, not reopened: it reconnects by itself. The restarted
    // server is empty (no persistence in tests) and has no scripts cached.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match kv
            .kv_put("c", "p", Some(row()), Some(tag! {"s" => 2}))
            .await
        {
            Ok(meta) => {
                assert_eq!(meta.fields, ["x"]);
                break;
            }
            Err(e) => {
                assert!(
                    e.is_temporary(),
                    "a non-temporary error while reconnecting: {e}"
                );
                assert!(
                    Instant::now() < deadline,
                    "no recovery after the restart: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let batch = kv.kv_batch_get(&["c"], "p", None).await.unwrap();
    assert_eq!(batch.num_rows(), 1);
    let listing = kv.kv_list(Some("p")).await.unwrap();
    assert_eq!(listing["p"].keys().collect::<Vec<_>>(), ["c"]);
    assert_eq!(kv.kv_clear(&["c"], "p", None).await.unwrap(), 1);
}

#[tokio::test]
async fn wrong_password_is_a_permanent_config_error_naming_the_setting() {
    let server = start(&["--requirepass", "right-horse-battery"]);
    for password in [Some("wrong-staple"), None] {
        let mut config = RedisConfig::standalone(server.url());
        config.password = password.map(str::to_owned);
        let err = RedisBackend::open(config).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(!err.is_temporary(), "{err}");
        assert_eq!(err.context_value("setting"), Some("password"), "{err}");
        let text = format!("{err} {err:?}");
        assert!(text.contains("`password`"), "{text}");
        assert!(
            !text.contains("wrong-staple") && !text.contains("right-horse"),
            "{text}"
        );
    }
    // The password in the URL counts too, and never shows.
    let url = format!("redis://:wrong-staple@127.0.0.1:{}", server.port());
    let err = RedisBackend::open(RedisConfig::standalone(url))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(!format!("{err:?}").contains("wrong-staple"));
    // The right one works, from the setting or the URL.
    let ok = RedisConfig::standalone(server.url())
        .with_password("right-horse-battery")
        .with_key_prefix(unique_prefix("pw"));
    assert!(!format!("{ok:?}").contains("right-horse"));
    let backend = RedisBackend::open(ok).await.unwrap();
    assert!(!format!("{backend:?}").contains("right-horse"));
    let url = format!("redis://:right-horse-battery@127.0.0.1:{}", server.port());
    RedisBackend::open(RedisConfig::standalone(url))
        .await
        .unwrap();
}

#[tokio::test]
async fn unreachable_server_is_temporary_unavailable() {
    // A port nobody listens on: start a server, note its port, stop it.
    let mut server = start(&[]);
    let url = server.url();
    server.stop();
    let mut config = RedisConfig::standalone(url);
    config.connect_timeout_ms = 500;
    let err = RedisBackend::open(config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_temporary(), "{err}");
}

#[tokio::test]
async fn value_over_the_bulk_limit_is_rejected_and_nothing_is_written() {
    let server = start(&["--proto-max-bulk-len", "1mb"]);
    let backend = RedisBackend::open(
        RedisConfig::standalone(server.url()).with_key_prefix(unique_prefix("bulk")),
    )
    .await
    .unwrap();
    assert_eq!(backend.max_value_bytes(), 1024 * 1024);
    let kv = KvStore::new(Arc::new(backend.clone()));
    let before = support::keys_on(server.port(), &backend);

    // Three rows; only the last one is too large.
    let small = NonTensor::Bytes(Bytes::from(vec![1u8; 1000]));
    let big = NonTensor::Bytes(Bytes::from(vec![2u8; 1024 * 1024]));
    let batch = Batch::new(3)
        .with_non_tensor("blob", vec![small.clone(), small, big])
        .unwrap();
    let err = kv
        .kv_batch_put(
            &["k0", "k1", "k2"],
            "p",
            Some(batch),
            Some(vec![tag! {"a" => 1}; 3]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::CapacityExceeded | ErrorKind::InvalidArgument
        ),
        "{err}"
    );
    let text = err.to_string();
    // The engine refuses it first, from the limit the backend claims
    // (`max_value_bytes` = the server's proto-max-bulk-len).
    for needle in [
        "at most 1048576",
        "\"blob\"",
        "\"k2\"",
        "\"p\"",
        "nothing was written",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
    assert!(!err.is_temporary());
    assert!(kv.kv_list(None).await.unwrap().is_empty());
    assert_eq!(support::keys_on(server.port(), &backend), before);

    // Just under the limit works (codec header: 8 bytes).
    let fits = Row::new().with("blob", Bytes::from(vec![3u8; 1024 * 1024 - 8]));
    kv.kv_put("k3", "p", Some(fits), None).await.unwrap();
    let over = Row::new().with("blob", Bytes::from(vec![3u8; 1024 * 1024 - 7]));
    let err = kv.kv_put("k4", "p", Some(over), None).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::CapacityExceeded | ErrorKind::InvalidArgument
        ),
        "{err}"
    );
    assert_eq!(kv.kv_list(Some("p")).await.unwrap()["p"].len(), 1);
}

/// Opens `config` and returns the error and how long it took.
async fn failed_open(config: RedisConfig) -> (tq_core::Error, Duration) {
    let started = Instant::now();
    let result = RedisBackend::open(config).await;
    let took = started.elapsed();
    match result {
        Ok(_) => panic!("opened a store on a stopped server"),
        Err(e) => (e, took),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_against_a_stopped_server_honours_the_timeouts() {
    let server = start(&[]);
    server.pause().unwrap();
    let mut config = RedisConfig::standalone(format!(
        "redis://:Zq-open-secret@127.0.0.1:{}",
        server.port()
    ))
    .with_key_prefix(unique_prefix("stopped"));
    config.connect_timeout_ms = 500;
    config.command_timeout_ms = 500;
    let (err, took) = failed_open(config.clone()).await;
    server.resume().unwrap();
    eprintln!("open against a stopped server: {took:?}: {err}");
    // connect_timeout + command_timeout, and some slack for a busy machine.
    assert!(took < Duration::from_millis(1_600), "took {took:?}: {err}");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_temporary(), "{err}");
    let text = format!("{err} {err:?}");
    assert!(
        text.contains(&format!("127.0.0.1:{}", server.port())),
        "{text}"
    );
    assert!(!text.contains("Zq-open-secret"), "{text}");
    // Awake again, the same settings open (the server wants no password,
    // so use the URL without one).
    config.url = Some(server.url());
    RedisBackend::open(config).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_open_against_stopped_nodes_honours_the_timeouts() {
    let cluster = tq_test_support::RedisCluster::start(3).unwrap_or_else(|e| panic!("{e}"));
    let mut config = RedisConfig::cluster(cluster.urls()).with_key_prefix(unique_prefix("stopped"));
    config.connect_timeout_ms = 500;
    config.command_timeout_ms = 500;
    // Every node stopped, then only one.
    for paused in [cluster.nodes().len(), 1] {
        for node in &cluster.nodes()[..paused] {
            node.pause().unwrap();
        }
        let (err, took) = failed_open(config.clone()).await;
        for node in cluster.nodes() {
            node.resume().unwrap();
        }
        eprintln!("cluster open with {paused} node(s) stopped: {took:?}: {err}");
        // connect_timeout + command_timeout, and some slack for a busy machine.
        assert!(took < Duration::from_millis(1_600), "took {took:?}: {err}");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(err.is_temporary(), "{err}");
        let port = cluster.nodes()[0].port();
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    }
    RedisBackend::open(config).await.unwrap();
}
