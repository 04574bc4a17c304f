//! The throwaway servers do what their docs say: a server answers on its
//! port, takes extra arguments, survives a restart on the same port with an
//! empty data set, can be paused and resumed, and is gone once dropped; a
//! cluster covers every slot; a TLS server speaks TLS with the test CA's
//! certificate. A missing `redis-server` fails these tests (never skipped).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tq_test_support::{RedisCluster, RedisServer, TestCa, redis_cli, unique_prefix};

fn started<T>(result: Result<T, String>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

fn refused(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_err()
}

/// Sends `PING` on a raw connection; what arrives within `wait`.
fn raw_ping(port: u16, wait: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(b"PING\r\n").unwrap();
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Ok(n) => buf[..n].to_vec(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn a_server_answers_on_loopback_and_is_gone_when_dropped() {
    let server = started(RedisServer::start());
    let port = server.port();
    assert_eq!(server.url(), format!("redis://127.0.0.1:{port}"));
    assert!(server.dir().is_dir());
    assert_eq!(server.cli(&["PING"]).unwrap().trim(), "PONG");
    assert_eq!(redis_cli(port, &["PING"]).unwrap().trim(), "PONG");
    let bind = server.cli(&["CONFIG", "GET", "bind"]).unwrap();
    assert!(bind.contains("127.0.0.1"), "{bind}");
    let save = server.cli(&["CONFIG", "GET", "appendonly"]).unwrap();
    assert!(save.contains("no"), "{save}");
    let dir = server.dir().to_owned();
    drop(server);
    assert!(refused(port), "port {port} still open after drop");
    assert!(!dir.exists(), "{dir:?} left behind");
}

#[test]
fn extra_arguments_reach_the_server() {
    let server = started(RedisServer::start_with(&["--maxmemory", "1mb"]));
    let got = server.cli(&["CONFIG", "GET", "maxmemory"]).unwrap();
    assert!(got.contains("1048576"), "{got}");
}

#[test]
fn a_restart_keeps_the_port_and_empties_the_data_set() {
    let mut server = started(RedisServer::start());
    let port = server.port();
    let pid = server.pid().unwrap();
    assert_eq!(server.cli(&["SET", "k", "v"]).unwrap().trim(), "OK");
    server.stop();
    assert!(refused(port), "port {port} still open after stop");
    server.restart().unwrap();
    assert_eq!(server.port(), port);
    assert_ne!(server.pid().unwrap(), pid);
    assert_eq!(server.cli(&["EXISTS", "k"]).unwrap().trim(), "0");
}

#[test]
fn a_paused_server_accepts_connections_but_does_not_answer() {
    let server = started(RedisServer::start());
    assert!(raw_ping(server.port(), Duration::from_secs(2)).starts_with(b"+PONG"));
    server.pause().unwrap();
    assert!(raw_ping(server.port(), Duration::from_millis(300)).is_empty());
    server.resume().unwrap();
    assert!(raw_ping(server.port(), Duration::from_secs(2)).starts_with(b"+PONG"));
    // A second resume is a no-op, and a paused server is still killed on drop.
    server.resume().unwrap();
    server.pause().unwrap();
    let port = server.port();
    drop(server);
    assert!(
        refused(port),
        "paused server on port {port} outlived its guard"
    );
}

#[test]
fn a_cluster_covers_every_slot_and_is_gone_when_dropped() {
    let cluster = started(RedisCluster::start_with(
        3,
        &["--maxmemory-policy", "noeviction"],
    ));
    assert_eq!(cluster.nodes().len(), 3);
    let ports: Vec<u16> = cluster.nodes().iter().map(RedisServer::port).collect();
    assert_eq!(
        cluster.urls(),
        ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
    );
    for node in cluster.nodes() {
        let info = node.cli(&["CLUSTER", "INFO"]).unwrap();
        assert!(info.contains("cluster_state:ok"), "{info}");
        assert!(info.contains("cluster_slots_assigned:16384"), "{info}");
        assert!(info.contains("cluster_known_nodes:3"), "{info}");
        let policy = node.cli(&["CONFIG", "GET", "maxmemory-policy"]).unwrap();
        assert!(policy.contains("noeviction"), "{policy}");
    }
    drop(cluster);
    for port in ports {
        assert!(refused(port), "cluster node {port} outlived its guard");
    }
}

#[test]
fn a_tls_server_speaks_tls_with_the_test_ca() {
    let ca = started(TestCa::generate());
    for file in [ca.ca_file(), ca.cert_file(), ca.key_file()] {
        assert!(file.is_file(), "{file:?}");
    }
    let server = started(RedisServer::start_tls(&ca, &[]));
    assert_eq!(
        server.url(),
        format!("rediss://127.0.0.1:{}", server.port())
    );
    let ca_file = ca.ca_file().to_string_lossy().into_owned();
    let pong = server
        .cli(&["--tls", "--cacert", &ca_file, "PING"])
        .unwrap();
    assert_eq!(pong.trim(), "PONG");
    // No plain port: a plain PING gets no +PONG.
    assert!(!raw_ping(server.port(), Duration::from_millis(500)).starts_with(b"+PONG"));
}

#[test]
fn prefixes_are_unique_and_named() {
    let a = unique_prefix("t");
    let b = unique_prefix("t");
    assert_ne!(a, b);
    assert!(a.starts_with(&format!("t-{}-", std::process::id())), "{a}");
}
