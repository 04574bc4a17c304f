//! The insertion counter of a cluster store, whose `INCRBY` every put sends
//! first, straight to the counter's master: redirected when the counter's
//! slot moves (puts keep their order), and failing a put once within the
//! command timeout when that master stops answering (nothing written, and
//! not tried again through the cluster client, which would wait as long
//! once more).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::slots::{cli, move_slot, owner_port};
use tq_backend_redis::{RedisBackend, RedisConfig};
use tq_core::{ErrorKind, KvStore, Row, Tensor};
use tq_test_support::{RedisCluster, unique_prefix};

/// A row of one small cell.
fn small_row(v: f32) -> Row {
    Row::new().with("small", Tensor::from_vec_1d(vec![v]))
}

/// The port of the master serving the counter of `backend`.
fn counter_port(backend: &RedisBackend, ports: &[u16]) -> (String, u16) {
    let counter = String::from_utf8(backend.layout().counter()).unwrap();
    let slot: u16 = cli(ports[0], &["CLUSTER", "KEYSLOT", &counter])
        .parse()
        .unwrap();
    let port = owner_port(ports[0], slot);
    (counter, port)
}

/// The insertion counter's `INCRBY` goes straight to the master the slot
/// map names; after the counter's slot moved it is answered `MOVED`, sent
/// again through redis-rs' routing, and puts keep their insertion order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_keep_their_order_when_the_counter_moves() {
    let cluster = RedisCluster::start(3).unwrap_or_else(|e| panic!("{e}"));
    let ports: Vec<u16> = cluster.nodes().iter().map(|n| n.port()).collect();
    let config = RedisConfig::cluster(cluster.urls()).with_key_prefix(unique_prefix("counter"));
    let backend = RedisBackend::open(config).await.unwrap();
    let kv = KvStore::new(Arc::new(backend.clone()));
    for key in ["a", "b"] {
        kv.kv_put(key, "p", Some(small_row(1.0)), None)
            .await
            .unwrap();
    }
    assert_eq!(backend.redirected_commands(), 0);

    let (counter, from) = counter_port(&backend, &ports);
    let slot: u16 = cli(ports[0], &["CLUSTER", "KEYSLOT", &counter])
        .parse()
        .unwrap();
    let to = *ports.iter().find(|&&p| p != from).unwrap();
    move_slot(slot, from, to, &ports);

    for key in ["c", "d"] {
        kv.kv_put(key, "p", Some(small_row(2.0)), None)
            .await
            .unwrap();
    }
    assert!(
        backend.redirected_commands() > 0,
        "the INCRBY was not redirected"
    );
    let listing = kv.kv_list(Some("p")).await.unwrap();
    let keys: Vec<&str> = listing["p"].keys().map(String::as_str).collect();
    assert_eq!(keys, ["a", "b", "c", "d"]);
    let value = cli(to, &["GET", &counter]);
    assert_eq!(value, "4", "the moved counter counts on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_counter_master_fails_a_put_within_one_timeout() {
    let cluster = RedisCluster::start(3).unwrap_or_else(|e| panic!("{e}"));
    let ports: Vec<u16> = cluster.nodes().iter().map(|n| n.port()).collect();
    let mut config =
        RedisConfig::cluster(cluster.urls()).with_key_prefix(unique_prefix("counter-stopped"));
    config.command_timeout_ms = 1_000;
    let backend = RedisBackend::open(config).await.unwrap();
    let kv = KvStore::new(Arc::new(backend.clone()));
    // The slot map and a direct connection to the counter's master exist.
    kv.kv_put("a", "p", Some(small_row(1.0)), None)
        .await
        .unwrap();
    let (_, port) = counter_port(&backend, &ports);
    let node = cluster
        .nodes()
        .iter()
        .find(|n| n.port() == port)
        .expect("the counter's master");
    node.pause().unwrap();
    let started = Instant::now();
    let result = kv.kv_put("b", "p", Some(small_row(2.0)), None).await;
    let took = started.elapsed();
    node.resume().unwrap();
    let err = result.expect_err("a put whose counter master is stopped");
    eprintln!("put with the counter's master stopped: {took:?}: {err}");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_temporary(), "{err}");
    // One command timeout (1 s), not two, with slack for a busy machine.
    assert!(took < Duration::from_millis(1_800), "took {took:?}: {err}");
    // Nothing of it was written; the store works again.
    let listing = kv.kv_list(Some("p")).await.unwrap();
    let keys: Vec<&str> = listing["p"].keys().map(String::as_str).collect();
    assert_eq!(keys, ["a"]);
    kv.kv_put("b", "p", Some(small_row(2.0)), None)
        .await
        .unwrap();
}
