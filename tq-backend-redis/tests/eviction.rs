//! Eviction: a server whose `maxmemory-policy` can evict this store's keys
//! is refused at open unless `allow_evicting_policy` says otherwise (read
//! with `CONFIG GET`, from `INFO` when `CONFIG` is renamed, from every
//! cluster master; unreadable: refused); `noeviction` and `volatile-*` open
//! (this backend never sets a TTL).

mod support;

use std::sync::Arc;

use bytes::Bytes;
use tq_backend_redis::{RedisBackend, RedisConfig};
use tq_core::{ErrorKind, KvStore, Row, Tag, tag};
use tq_test_support::{RedisCluster, RedisServer, redis_cli, unique_prefix};

fn start(extra: &[&str]) -> RedisServer {
    RedisServer::start_with(extra).unwrap_or_else(|e| panic!("{e}"))
}

fn config_for(server: &RedisServer) -> RedisConfig {
    RedisConfig::standalone(server.url()).with_key_prefix(unique_prefix("evict"))
}

fn assert_refused(err: &tq_core::Error, policy: &str) {
    eprintln!("{err}");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(!err.is_temporary(), "{err}");
    assert_eq!(
        err.context_value("setting"),
        Some("maxmemory-policy"),
        "{err}"
    );
    assert_eq!(err.context_value("value"), Some(policy), "{err}");
    let text = err.to_string();
    assert!(text.contains("allow_evicting_policy"), "{text}");
    assert!(text.contains(policy), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicting_policy_is_refused_unless_opted_in() {
    let server = start(&["--maxmemory-policy", "allkeys-lru"]);
    let err = RedisBackend::open(config_for(&server)).await.unwrap_err();
    assert_refused(&err, "allkeys-lru");
    // Nothing was written by the refused open (not even the layout marker).
    assert_eq!(server.cli(&["dbsize"]).unwrap().trim(), "0");

    let mut lossy = config_for(&server);
    lossy.allow_evicting_policy = true;
    let kv = KvStore::new(Arc::new(RedisBackend::open(lossy).await.unwrap()));
    kv.kv_put("k", "p", None, Some(tag! {"a" => 1}))
        .await
        .unwrap();

    // Every policy that may evict keys without a TTL is refused.
    for policy in ["allkeys-lfu", "allkeys-random"] {
        server
            .cli(&["config", "set", "maxmemory-policy", policy])
            .unwrap();
        let err = RedisBackend::open(config_for(&server)).await.unwrap_err();
        assert_refused(&err, policy);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noeviction_and_volatile_policies_open_and_no_key_gets_a_ttl() {
    let server = start(&["--maxmemory-policy", "noeviction"]);
    RedisBackend::open(config_for(&server)).await.unwrap();
    // The shared test server runs with Redis' default (noeviction).
    support::standalone().await.unwrap();
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        server
            .cli(&["config", "set", "maxmemory-policy", policy])
            .unwrap();
        let backend = RedisBackend::open(config_for(&server)).await.unwrap();
        let kv = KvStore::new(Arc::new(backend.clone()));
        // Every kind of write, then no key of the store may have a TTL
        // (volatile-* evicts only keys that have one).
        let row = Row::new().with("x", Bytes::from_static(b"abc"));
        kv.kv_put("a", "p", Some(row.clone()), Some(tag! {"s" => 1}))
            .await
            .unwrap();
        kv.kv_put("b", "p", Some(row), None).await.unwrap();
        kv.kv_put("c", "q", None, Some(Tag::new())).await.unwrap();
        kv.kv_put("a", "p", None, Some(tag! {"s" => 2}))
            .await
            .unwrap();
        kv.kv_clear(&["b"], "p", None).await.unwrap();
        kv.kv_list(None).await.unwrap();
        let keys = support::keys_on(server.port(), &backend);
        assert!(keys.len() >= 5, "{keys:?}");
        for key in keys {
            let ttl = server.cli(&["pttl", &key]).unwrap();
            assert_eq!(ttl.trim(), "-1", "{key} has a TTL under {policy}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_comes_from_info_when_config_is_renamed() {
    let server = start(&[
        "--maxmemory-policy",
        "allkeys-random",
        "--rename-command",
        "CONFIG",
        "",
    ]);
    let err = RedisBackend::open(config_for(&server)).await.unwrap_err();
    assert_refused(&err, "allkeys-random");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_policy_is_refused_with_the_way_to_opt_in() {
    let server = start(&[]);
    server
        .cli(&[
            "acl",
            "setuser",
            "limited",
            "on",
            ">limited-pw",
            "~*",
            "+@all",
            "-config",
            "-info",
        ])
        .unwrap();
    let mut config = config_for(&server);
    config.username = Some("limited".into());
    config.password = Some("limited-pw".into());
    let err = RedisBackend::open(config.clone()).await.unwrap_err();
    eprintln!("{err}");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert_eq!(
        err.context_value("setting"),
        Some("maxmemory-policy"),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("allow_evicting_policy = true"), "{text}");
    assert!(!text.contains("limited-pw"), "{text}");
    config.allow_evicting_policy = true;
    let kv = KvStore::new(Arc::new(RedisBackend::open(config).await.unwrap()));
    kv.kv_put("k", "p", None, Some(tag! {"a" => 1}))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_is_refused_when_any_master_may_evict() {
    let cluster = RedisCluster::start(3).unwrap_or_else(|e| panic!("{e}"));
    let config = RedisConfig::cluster(cluster.urls()).with_key_prefix(unique_prefix("evict"));
    RedisBackend::open(config.clone()).await.unwrap();
    let last = cluster.nodes().last().unwrap();
    redis_cli(
        last.port(),
        &["config", "set", "maxmemory-policy", "allkeys-lfu"],
    )
    .unwrap();
    let err = RedisBackend::open(config.clone()).await.unwrap_err();
    assert_refused(&err, "allkeys-lfu");
    assert!(
        err.to_string()
            .contains(&format!("127.0.0.1:{}", last.port())),
        "{err}"
    );
    let mut lossy = config;
    lossy.allow_evicting_policy = true;
    RedisBackend::open(lossy).await.unwrap();
}
