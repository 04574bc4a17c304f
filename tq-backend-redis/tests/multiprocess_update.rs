//! SPEC U2 across OS processes: four processes, each with four tasks, bump
//! the same counters (a cell and a tag entry of three rows, spread over
//! cluster slots) with `kv_batch_update` at the same time; no increment is
//! lost. The parent re-invokes this test binary as its children
//! (`child_updater` with `TQ_REDIS_UPDATER` set).

mod support;

use std::sync::Arc;

use tq_backend_redis::{RedisBackend, RedisConfig};
use tq_core::{CurrentRow, KvStore, RowChange, Tensor, Value, tag};
use tq_test_support::unique_prefix;

const PROCESSES: usize = 4;
const TASKS: usize = 4;
const UPDATES: usize = 10;
const KEYS: [&str; 3] = ["alpha", "beta", "gamma"];
const PARTITION: &str = "counters";

/// One increment of the cell `n` and the tag entry `n`.
fn bump(row: &CurrentRow) -> Option<RowChange> {
    let cell = row
        .get("n")
        .and_then(Value::as_tensor)
        .and_then(|t| t.to_vec::<i64>().ok())
        .map_or(0, |v| v[0]);
    let in_tag = row.tag.get("n").and_then(|v| v.as_i64()).unwrap_or(0);
    Some(
        RowChange::new()
            .with("n", Tensor::from_vec(vec![cell + 1], [1]).unwrap())
            .with_tag(tag! {"n" => in_tag + 1}),
    )
}

/// The child's side: runs only when the parent sets `TQ_REDIS_UPDATER`; in
/// a plain `cargo test` run it is the entry point's no-op.
#[test]
fn child_updater() {
    let Ok(spec) = std::env::var("TQ_REDIS_UPDATER") else {
        return;
    };
    let mut parts = spec.splitn(3, '|');
    let (Some(mode), Some(prefix), Some(nodes)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("bad TQ_REDIS_UPDATER {spec:?}");
    };
    let nodes: Vec<&str> = nodes.split(',').collect();
    let config = if mode == "cluster" {
        RedisConfig::cluster(nodes)
    } else {
        RedisConfig::standalone(nodes[0])
    }
    .with_key_prefix(prefix);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let kv = KvStore::new(Arc::new(RedisBackend::open(config).await.unwrap()));
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let kv = kv.clone();
                tokio::spawn(async move {
                    for _ in 0..UPDATES {
                        kv.kv_batch_update(&KEYS, PARTITION, Some(&["n"]), bump)
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

fn run_children(mode: &str, nodes: &[String]) -> String {
    let prefix = unique_prefix("mpu");
    let specs = (0..PROCESSES).map(|_| format!("{mode}|{prefix}|{}", nodes.join(",")));
    support::children::run_children("child_updater", "TQ_REDIS_UPDATER", specs);
    prefix
}

async fn check(config: RedisConfig) {
    let kv = KvStore::new(Arc::new(RedisBackend::open(config).await.unwrap()));
    let total = (PROCESSES * TASKS * UPDATES) as i64;
    let batch = kv.kv_batch_get(&KEYS, PARTITION, None).await.unwrap();
    let cells: Vec<i64> = batch
        .tensor("n")
        .expect("field n")
        .as_dense()
        .expect("dense")
        .to_vec::<i64>()
        .unwrap();
    assert_eq!(cells, vec![total; KEYS.len()], "cell increments lost");
    let listing = kv.kv_list(Some(PARTITION)).await.unwrap();
    for key in KEYS {
        assert_eq!(
            listing[PARTITION][key]["n"], total,
            "tag increments of {key} lost"
        );
    }
}

#[test]
fn four_processes_updating_the_same_rows_lose_nothing_standalone() {
    let server = support::server().unwrap_or_else(|e| panic!("{e}"));
    let prefix = run_children("standalone", &[server.url()]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(check(
        RedisConfig::standalone(server.url()).with_key_prefix(prefix),
    ));
}

#[test]
fn four_processes_updating_the_same_rows_lose_nothing_cluster() {
    let cluster = support::cluster().unwrap_or_else(|e| panic!("{e}"));
    let prefix = run_children("cluster", &cluster.urls());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(check(
        RedisConfig::cluster(cluster.urls()).with_key_prefix(prefix),
    ));
}
