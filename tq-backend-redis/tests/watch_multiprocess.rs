//! Watching across OS processes (contract W1-W3 for a shared store): a
//! child process writes, the parent's watch sees each write, and the
//! parent's `kv_wait` is woken by the child's put. The parent re-invokes
//! this test binary as its child (`child_writer` with
//! `TQ_REDIS_WATCH_CHILD` set).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tq_backend_redis::{RedisBackend, RedisConfig};
use tq_core::{KvStore, RowWrite, StorageBackend, Tensor, WatchBackend, WatchEvent, tag};
use tq_test_support::unique_prefix;

const VAR: &str = "TQ_REDIS_WATCH_CHILD";

fn config(mode: &str, prefix: &str, nodes: &[&str]) -> RedisConfig {
    if mode == "cluster" {
        RedisConfig::cluster(nodes.iter().copied())
    } else {
        RedisConfig::standalone(nodes[0])
    }
    .with_key_prefix(prefix)
}

/// The child's side: runs only when the parent sets the variable to
/// `job|mode|prefix|nodes`; in a plain `cargo test` run it is a no-op.
#[test]
fn child_writer() {
    let Ok(spec) = std::env::var(VAR) else {
        return;
    };
    let parts: Vec<&str> = spec.splitn(4, '|').collect();
    let [job, mode, prefix, nodes] = parts[..] else {
        panic!("bad {VAR} {spec:?}");
    };
    let nodes: Vec<&str> = nodes.split(',').collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let backend = RedisBackend::open(config(mode, prefix, &nodes))
            .await
            .unwrap();
        let cell = Tensor::from_vec(vec![1f32; 4], [4]).unwrap();
        match job {
            "events" => {
                let write = RowWrite::new("k")
                    .with_cell("a", cell.clone())
                    .with_cell("b", cell)
                    .with_tag(tag! {"s" => "new"});
                backend.put("p", vec![write]).await.unwrap();
                let removal = RowWrite::new("k").with_removed("a");
                backend.put("p", vec![removal]).await.unwrap();
                backend.clear("p", &["k".to_owned()]).await.unwrap();
            }
            "late-put" => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let write = RowWrite::new("sample").with_cell("reward", cell);
                backend.put("train", vec![write]).await.unwrap();
            }
            other => panic!("unknown job {other:?}"),
        }
    });
}

/// Runs the child `job` against the store at `prefix` in the background.
fn spawn_child(
    job: &str,
    mode: &str,
    prefix: &str,
    nodes: &[String],
) -> tokio::task::JoinHandle<()> {
    let spec = format!("{job}|{mode}|{prefix}|{}", nodes.join(","));
    tokio::task::spawn_blocking(move || {
        support::children::run_children("child_writer", VAR, [spec]);
    })
}

async fn parent_sees_the_childs_writes(mode: &str, nodes: Vec<String>) {
    let prefix = unique_prefix("wmp");
    let node_refs: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let backend = RedisBackend::open(config(mode, &prefix, &node_refs))
        .await
        .unwrap();
    let mut events = backend.watch("p").await.unwrap();
    let child = spawn_child("events", mode, &prefix, &nodes);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("an event within 30 s")
            .expect("the stream goes on")
            .unwrap();
        seen.push(event);
    }
    child.await.unwrap();
    if let WatchEvent::Put { fields, .. } = &mut seen[0] {
        fields.sort();
    }
    assert_eq!(
        seen,
        [
            WatchEvent::Put {
                key: "k".into(),
                fields: vec!["a".into(), "b".into()],
                tag: tag! {"s" => "new"},
            },
            WatchEvent::Clear {
                key: "k".into(),
                fields: Some(vec!["a".into()]),
            },
            WatchEvent::Clear {
                key: "k".into(),
                fields: None,
            },
        ]
    );

    // kv_wait in this process, woken by the child's put.
    let kv = KvStore::new(Arc::new(backend));
    let child = spawn_child("late-put", mode, &prefix, &nodes);
    let start = Instant::now();
    kv.kv_wait(
        &["sample"],
        "train",
        Some(&["reward"]),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let waited = start.elapsed();
    child.await.unwrap();
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
    let rows = kv
        .kv_batch_get(&["sample"], "train", Some(&["reward"]))
        .await
        .unwrap();
    assert!(rows.tensor("reward").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_and_a_wait_see_another_processs_writes_standalone() {
    let server = support::server().unwrap();
    parent_sees_the_childs_writes("standalone", vec![server.url()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_and_a_wait_see_another_processs_writes_cluster() {
    let cluster = support::cluster().unwrap();
    parent_sees_the_childs_writes("cluster", cluster.urls()).await;
}
