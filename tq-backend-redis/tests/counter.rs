//! The insertion counter of a cluster store, whose `INCRBY` every put sends
//! first, straight to the counter's master: redirected when the counter's
//! slot moves (puts keep their order), and failing a put once within the
//! command timeout when that master stops answering (nothing written, and
//! not tried again through the cluster client, which would wait as long
//! once more).

mod support;

use std::time::{Duration, Instant};

use support::slots::{cli, key_slot, move_key_slot, own_cluster, owner_port};
use tq_backend_redis::RedisBackend;
use tq_core::{ErrorKind, Row, Tensor};

/// A row of one small cell.
fn small_row(v: f32) -> Row {
    Row::new().with("small", Tensor::from_vec_1d(vec![v]))
}

/// The key of `backend`'s insertion counter.
fn counter_key(backend: &RedisBackend) -> String {
    String::from_utf8(backend.layout().counter()).unwrap()
}

/// The insertion counter's `INCRBY` goes straight to the master the slot
/// map names; after the counter's slot moved it is answered `MOVED`, sent
/// again through redis-rs' routing, and puts keep their insertion order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_keep_their_order_when_the_counter_moves() {
    let (_cluster, ports, backend, kv) = own_cluster("counter", |_| {}).await;
    for key in ["a", "b"] {
        kv.kv_put(key, "p", Some(small_row(1.0)), None)
            .await
            .unwrap();
    }
    assert_eq!(backend.redirected_commands(), 0);

    let counter = counter_key(&backend);
    let (_, to) = move_key_slot(&counter, &ports);

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
    let (cluster, ports, backend, kv) =
        own_cluster("counter-stopped", |c| c.command_timeout_ms = 1_000).await;
    // The slot map and a direct connection to the counter's master exist.
    kv.kv_put("a", "p", Some(small_row(1.0)), None)
        .await
        .unwrap();
    let port = owner_port(ports[0], key_slot(ports[0], &counter_key(&backend)));
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
