//! Moving a cluster's hash slots by hand, and finding their masters.

use tq_test_support::redis_cli;

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
