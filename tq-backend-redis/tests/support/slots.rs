//! Moving a cluster's hash slots by hand, and finding their masters, on a
//! cluster of the test's own (not the process' shared one).

use std::sync::Arc;

use tq_backend_redis::{RedisBackend, RedisConfig};
use tq_core::KvStore;
use tq_test_support::{RedisCluster, redis_cli, unique_prefix};

/// A 3-master cluster of the test's own, its nodes' ports, a store on it
/// (a new key prefix from `prefix`, then `tune`) and the KV API over it.
pub async fn own_cluster(
    prefix: &str,
    tune: impl FnOnce(&mut RedisConfig),
) -> (RedisCluster, Vec<u16>, RedisBackend, KvStore) {
    let cluster = RedisCluster::start(3).unwrap_or_else(|e| panic!("{e}"));
    let ports: Vec<u16> = cluster.nodes().iter().map(|n| n.port()).collect();
    let mut config = RedisConfig::cluster(cluster.urls()).with_key_prefix(unique_prefix(prefix));
    tune(&mut config);
    let backend = RedisBackend::open(config).await.unwrap();
    let kv = KvStore::new(Arc::new(backend.clone()));
    (cluster, ports, backend, kv)
}

/// The hash slot of `key`, as the node on `port` computes it.
pub fn key_slot(port: u16, key: &str) -> u16 {
    cli(port, &["CLUSTER", "KEYSLOT", key]).parse().unwrap()
}

/// Moves the slot of `key` from its master to another one; returns the
/// slot and the port of its new master.
pub fn move_key_slot(key: &str, ports: &[u16]) -> (u16, u16) {
    let slot = key_slot(ports[0], key);
    let from = owner_port(ports[0], slot);
    let to = *ports.iter().find(|&&p| p != from).unwrap();
    move_slot(slot, from, to, ports);
    (slot, to)
}

/// `redis-cli -p port args...`, its output trimmed; panics on failure.
pub fn cli(port: u16, args: &[&str]) -> String {
    let out = redis_cli(port, args).unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.contains("ERR"), "redis-cli {args:?}: {out}");
    out.trim().to_owned()
}

/// Moves `slot` from the master on `from` to the master on `to`, keys
/// included, and tells every node (`ports`).
pub fn move_slot(slot: u16, from: u16, to: u16, ports: &[u16]) {
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
pub fn owner_port(port: u16, slot: u16) -> u16 {
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
