//! Every connection the backend keeps to a server (redis-rs' multiplexed
//! connection, the direct data-path connections, a watch's connections)
//! has TCP keepalive probes armed, after 30 s of silence rather than the
//! kernel's two hours, so a server that vanishes without closing them is
//! noticed (src/keepalive.rs). Read from the kernel's socket table
//! (/proc/net/tcp: the `tr` column is 2 while the keepalive timer runs, and
//! `tm->when` the clock ticks until it fires). One test in this binary, so
//! no other test's connections are in the table.
#![cfg(target_os = "linux")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use tq_core::{DType, KvStore, Tensor, WatchBackend};

/// (timer kind, clock ticks until it fires) of every established
/// connection whose remote port is one of `ports`.
fn client_sockets(ports: &[u16]) -> Vec<(u8, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let remote_port = u16::from_str_radix(f.get(2)?.split(':').nth(1)?, 16).ok()?;
            let established = *f.get(3)? == "01";
            let (tr, when) = f.get(5)?.split_once(':')?;
            (established && ports.contains(&remote_port)).then(|| {
                (
                    u8::from_str_radix(tr, 16).unwrap_or(0),
                    u64::from_str_radix(when, 16).unwrap_or(u64::MAX),
                )
            })
        })
        .collect()
}

async fn check(kv: KvStore, watcher: &dyn WatchBackend, ports: &[u16]) {
    let _events = watcher.watch("p").await.unwrap();
    // 32 rows: a pipeline of that many commands goes over a direct
    // connection; the small get too, and kv_list through redis-rs.
    let keys: Vec<String> = (0..32).map(|i| format!("k{i}")).collect();
    let batch = tq_core::Batch::new(32)
        .with_dense("x", Tensor::zeros(DType::F32, [32, 4]).unwrap())
        .unwrap();
    kv.kv_batch_put(&keys, "p", Some(batch), None)
        .await
        .unwrap();
    kv.kv_batch_get(&keys, "p", None).await.unwrap();
    kv.kv_list(Some("p")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let sockets = client_sockets(ports);
    // At least: one multiplexed connection, one direct, one watch.
    assert!(sockets.len() >= 3, "connections to {ports:?}: {sockets:?}");
    for (tr, when) in &sockets {
        assert_eq!(
            *tr, 2,
            "a connection without its keepalive timer: {sockets:?}"
        );
        // USER_HZ is 100: 30 s is 3,000 ticks (the kernel's default, two
        // hours, would be 720,000).
        assert!(*when <= 3_000, "keepalive due in {when} ticks: {sockets:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connection_to_a_server_probes_a_silent_peer() {
    let server = support::server().unwrap();
    let backend = support::standalone().await.unwrap();
    let kv = KvStore::new(Arc::new(backend.clone()));
    check(kv, &backend, &[server.port()]).await;

    let cluster = support::cluster().unwrap();
    let ports: Vec<u16> = cluster.nodes().iter().map(|n| n.port()).collect();
    let backend = support::clustered().await.unwrap();
    let kv = KvStore::new(Arc::new(backend.clone()));
    check(kv, &backend, &ports).await;
}
