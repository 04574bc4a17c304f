//! A watch's own connections: dropping the stream closes them, and a lost
//! connection ends the stream with one `Unavailable` error. One test, so
//! no other watch of this process shares the servers' client lists.

mod support;

use std::time::Duration;

use futures::StreamExt;
use tq_backend_redis::{RedisBackend, WATCH_CLIENT_NAME};
use tq_core::{ErrorKind, WatchBackend};
use tq_test_support::redis_cli;

/// The ids of the watch connections on the servers at `ports`.
fn watch_clients(ports: &[u16]) -> Vec<(u16, String)> {
    let name = format!("name={WATCH_CLIENT_NAME} ");
    ports
        .iter()
        .flat_map(|&port| {
            let list = redis_cli(port, &["CLIENT", "LIST"]).unwrap_or_else(|e| panic!("{e}"));
            list.lines()
                .filter(|l| l.contains(&name))
                .filter_map(|l| l.strip_prefix("id=")?.split(' ').next().map(str::to_owned))
                .map(|id| (port, id))
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn until_no_watch_clients(ports: &[u16]) {
    for _ in 0..100 {
        if watch_clients(ports).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("watch connections left open: {:?}", watch_clients(ports));
}

async fn check(backend: RedisBackend, ports: &[u16]) {
    // One connection per server; dropping the stream closes them.
    let events = backend.watch("p").await.unwrap();
    assert_eq!(watch_clients(ports).len(), ports.len());
    drop(events);
    until_no_watch_clients(ports).await;
    // Several watches, dropped mid-way through reading: none leaks.
    let streams: Vec<_> = futures::future::join_all((0..4).map(|_| backend.watch("p")))
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(watch_clients(ports).len(), 4 * ports.len());
    drop(streams);
    until_no_watch_clients(ports).await;
    // A connection killed by the server: one Unavailable error, then the end.
    let mut events = backend.watch("p").await.unwrap();
    let (port, id) = watch_clients(ports).remove(0);
    redis_cli(port, &["CLIENT", "KILL", "ID", &id]).unwrap();
    let item = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an item after the kill");
    let err = item.expect("an item").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("kv_list"), "{err}");
    let end = tokio::time::timeout(Duration::from_secs(10), events.next()).await;
    assert!(matches!(end, Ok(None)), "{end:?}");
    drop(events);
    until_no_watch_clients(ports).await;
}

/// A lagging watcher of a cluster whose connection to one master dies: the
/// loss notice is lost in the gap under newer events of the other masters,
/// yet the stream still ends with `Unavailable` right after its `Lagged`
/// item, never going on silently without that master's events.
async fn loss_hidden_in_a_gap(ports: &[u16]) {
    let config = support::cluster_config().unwrap().with_watch_buffer(16);
    let backend = RedisBackend::open(config).await.unwrap();
    let kv = tq_core::KvStore::new(std::sync::Arc::new(backend.clone()));
    let mut events = backend.watch("p").await.unwrap();
    let (port, id) = watch_clients(ports).remove(0);
    redis_cli(port, &["CLIENT", "KILL", "ID", &id]).unwrap();
    // Time for the client to notice, so the notice is in the buffer before
    // the events that will push it out.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Rows on every master, many times the buffer: the other masters'
    // events push the loss notice out of it.
    let keys: Vec<String> = (0..2000).map(|i| format!("k{i}")).collect();
    kv.kv_batch_put(
        &keys,
        "p",
        None,
        Some(vec![tq_core::Tag::new(); keys.len()]),
    )
    .await
    .unwrap();
    let mut lagged = false;
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("an item");
        match item {
            Some(Ok(tq_core::WatchEvent::Lagged { .. })) => lagged = true,
            Some(Ok(_)) => {}
            Some(Err(err)) => {
                assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
                break;
            }
            None => panic!("the stream ended without saying a connection was lost"),
        }
    }
    assert!(lagged, "2000 unread events in a buffer of 16 never lagged");
    drop(events);
    until_no_watch_clients(ports).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_connections_close_with_the_stream_and_their_loss_ends_it() {
    let server = support::server().unwrap();
    check(support::standalone().await.unwrap(), &[server.port()]).await;
    let cluster = support::cluster().unwrap();
    let ports: Vec<u16> = cluster.nodes().iter().map(|n| n.port()).collect();
    check(support::clustered().await.unwrap(), &ports).await;
    loss_hidden_in_a_gap(&ports).await;
}
