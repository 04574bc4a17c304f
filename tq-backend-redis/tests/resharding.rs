//! A cluster that moves a row's slot to another master while a backend
//! holds the old slot map: every kind of pipeline unit (a put's
//! `MULTI`/`EXEC`, a small row's script, the read of a hash with its cell
//! keys, a clear) reaches the old master, is answered `MOVED` without
//! running, and is resent through per-slot routing; the data stays whole.
//! The insertion counter's `INCRBY`, sent straight to its master, is
//! redirected the same way when its slot moves.

use std::sync::Arc;

use tq_backend_redis::{RedisBackend, RedisConfig};
use tq_core::{Batch, KvStore, Row, Tensor, tag};
use tq_test_support::{RedisCluster, redis_cli, unique_prefix};

/// `redis-cli -p port args...`, its output trimmed; panics on failure.
fn cli(port: u16, args: &[&str]) -> String {
    let out = redis_cli(port, args).unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.contains("ERR"), "redis-cli {args:?}: {out}");
    out.trim().to_owned()
}

/// Moves `slot` from the master on `from` to the master on `to`, keys
/// included, and tells every node (`ports`).
fn move_slot(slot: u16, from: u16, to: u16, ports: &[u16]) {
    let slot = slot.to_string();
    let from_id = cli(from, &["CLUSTER", "MYID"]);
    let to_id = cli(to, &["CLUSTER", "MYID"]);
    cli(to, &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id]);
    cli(from, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id]);
    loop {
        let keys = cli(from, &["CLUSTER", "GETKEYSINSLOT", &slot, "100"]);
        let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
        if keys.is_empty() {
            break;
        }
        let to_port = to.to_string();
        let mut args = vec!["MIGRATE", "127.0.0.1", &to_port, "", "0", "5000", "KEYS"];
        args.extend(keys);
        cli(from, &args);
    }
    for &port in ports {
        cli(port, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]);
    }
}

/// The port of the master serving `slot`, from `CLUSTER NODES` on `port`
/// (each line: id, `ip:port@cport`, flags, ..., then the slot ranges).
fn owner_port(port: u16, slot: u16) -> u16 {
    cli(port, &["CLUSTER", "NODES"])
        .lines()
        .find_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let serves = cols.get(8..)?.iter().any(|range| {
                let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                matches!((lo.parse::<u16>(), hi.parse::<u16>()),
                    (Ok(lo), Ok(hi)) if (lo..=hi).contains(&slot))
            });
            let node_port = cols.get(1)?.split(['@', ':']).nth(1)?.parse().ok()?;
            serves.then_some(node_port)
        })
        .expect("a master serves the slot")
}

/// A row of one small cell.
fn small_row(v: f32) -> Row {
    Row::new().with("small", Tensor::from_vec_1d(vec![v]))
}

/// The values of a float32 column of `batch`.
fn f32_column(batch: &Batch, field: &str) -> Vec<f32> {
    let column = batch.tensor(field).expect("a tensor column");
    let dense = column.as_dense().expect("rows of one shape");
    dense.to_vec::<f32>().expect("float32 values")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_stay_whole_when_their_slot_moves() {
    let cluster = RedisCluster::start(3).unwrap_or_else(|e| panic!("{e}"));
    let ports: Vec<u16> = cluster.nodes().iter().map(|n| n.port()).collect();
    let config = RedisConfig::cluster(cluster.urls()).with_key_prefix(unique_prefix("reshard"));
    let backend = RedisBackend::open(config).await.unwrap();
    let kv = KvStore::new(Arc::new(backend.clone()));

    let big: Vec<f32> = (0..16 * 1024).map(|i| i as f32).collect();
    let large_row = |v: f32| {
        Row::new()
            .with(
                "big",
                Tensor::from_vec_1d(big.iter().map(|x| x + v).collect::<Vec<f32>>()),
            )
            .with("small", Tensor::from_vec_1d(vec![v]))
    };
    kv.kv_put("k", "p", Some(large_row(0.0)), Some(tag! {"n" => 0}))
        .await
        .unwrap();
    kv.kv_put("s", "p", Some(small_row(1.0)), None)
        .await
        .unwrap();
    // Warm the slot map, then move the slots of both rows.
    assert_eq!(kv.kv_list(Some("p")).await.unwrap()["p"].len(), 2);
    let layout = backend.layout();
    for key in ["k", "s"] {
        let row_key = String::from_utf8(layout.row(layout.bucket("p", key), "p", key)).unwrap();
        let slot: u16 = cli(ports[0], &["CLUSTER", "KEYSLOT", &row_key])
            .parse()
            .unwrap();
        let from = owner_port(ports[0], slot);
        let to = *ports.iter().find(|&&p| p != from).unwrap();
        move_slot(slot, from, to, &ports);
        assert_eq!(owner_port(ports[0], slot), to);
    }

    // A read of the hash with its cell key, a selection, a large put, a
    // small put and a clear: each is redirected once and works.
    let got = kv.kv_batch_get(&["k"], "p", None).await.unwrap();
    let column = got.tensor("big").unwrap();
    assert_eq!(column.data().len(), big.len() * 4);
    assert!(backend.redirected_commands() > 0);
    let only_big = ["big"];
    kv.kv_batch_get(&["k"], "p", Some(&only_big)).await.unwrap();
    kv.kv_put("k", "p", Some(large_row(1.0)), Some(tag! {"n" => 1}))
        .await
        .unwrap();
    kv.kv_put("s", "p", Some(small_row(2.0)), None)
        .await
        .unwrap();
    let got = kv.kv_batch_get(&["k"], "p", None).await.unwrap();
    let values = f32_column(&got, "big");
    assert!(values.iter().zip(&big).all(|(v, b)| *v == b + 1.0));
    let got = kv
        .kv_batch_get(&["k", "s"], "p", Some(&["small"]))
        .await
        .unwrap();
    assert_eq!(f32_column(&got, "small"), [1.0, 2.0]);
    let listing = kv.kv_list(Some("p")).await.unwrap();
    assert_eq!(listing["p"]["k"], tag! {"n" => 1});
    assert_eq!(kv.kv_clear(&["k", "s"], "p", None).await.unwrap(), 2);
    assert!(kv.kv_list(None).await.unwrap().is_empty());
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

    let counter = String::from_utf8(backend.layout().counter()).unwrap();
    let slot: u16 = cli(ports[0], &["CLUSTER", "KEYSLOT", &counter])
        .parse()
        .unwrap();
    let from = owner_port(ports[0], slot);
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
