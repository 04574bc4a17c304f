//! SPEC X1/X2 across OS processes: four processes write different fields
//! and different tag entries to the same keys at the same time; nothing is
//! lost. The parent re-invokes this test binary as its children
//! (`child_writer` with `TQ_REDIS_CHILD` set).

mod support;

use std::sync::Arc;

use tq_backend_redis::{RedisBackend, RedisConfig};
use tq_core::{Batch, KvStore, Tag, Tensor};
use tq_test_support::unique_prefix;

const PROCESSES: usize = 4;
const ROUNDS: usize = 15;
const KEYS: usize = 40;
const PARTITION: &str = "shared";

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("key-{i}")).collect()
}

/// The child's side: runs only when the parent sets `TQ_REDIS_CHILD`; in a
/// plain `cargo test` run it is the entry point's no-op.
#[test]
fn child_writer() {
    let Ok(spec) = std::env::var("TQ_REDIS_CHILD") else {
        return;
    };
    let mut parts = spec.splitn(4, '|');
    let (Some(id), Some(mode), Some(prefix), Some(nodes)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        panic!("bad TQ_REDIS_CHILD {spec:?}");
    };
    let id: usize = id.parse().unwrap();
    let nodes: Vec<&str> = nodes.split(',').collect();
    let config = if mode == "cluster" {
        RedisConfig::cluster(nodes)
    } else {
        RedisConfig::standalone(nodes[0])
    }
    .with_key_prefix(prefix);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let kv = KvStore::new(Arc::new(RedisBackend::open(config).await.unwrap()));
        let keys = keys();
        for round in 0..ROUNDS {
            let field = format!("f{id}_{round}");
            let data: Vec<i64> = (0..KEYS as i64).map(|k| k * 1000 + id as i64).collect();
            let batch = Batch::new(KEYS)
                .with_dense(&field, Tensor::from_vec(data, [KEYS]).unwrap())
                .unwrap();
            let tags: Vec<Tag> = (0..KEYS)
                .map(|_| {
                    let mut t = Tag::new();
                    t.insert(format!("p{id}_{round}"), round.into());
                    t.insert("last_writer".into(), id.into());
                    t
                })
                .collect();
            kv.kv_batch_put(&keys, PARTITION, Some(batch), Some(tags))
                .await
                .unwrap();
        }
    });
}

fn run_children(mode: &str, nodes: &[String]) -> String {
    let prefix = unique_prefix("mp");
    let specs = (0..PROCESSES).map(|id| format!("{id}|{mode}|{prefix}|{}", nodes.join(",")));
    support::children::run_children("child_writer", "TQ_REDIS_CHILD", specs);
    prefix
}

async fn check(config: RedisConfig) {
    let kv = KvStore::new(Arc::new(RedisBackend::open(config).await.unwrap()));
    let keys = keys();
    let listing = kv.kv_list(Some(PARTITION)).await.unwrap();
    assert_eq!(listing[PARTITION].len(), KEYS);
    let batch = kv.kv_batch_get(&keys, PARTITION, None).await.unwrap();
    assert_eq!(batch.num_columns(), PROCESSES * ROUNDS, "lost fields");
    for id in 0..PROCESSES {
        for round in 0..ROUNDS {
            let col = batch.tensor(&format!("f{id}_{round}")).expect("field");
            let values: Vec<i64> = col.as_dense().expect("dense").to_vec::<i64>().unwrap();
            let want: Vec<i64> = (0..KEYS as i64).map(|k| k * 1000 + id as i64).collect();
            assert_eq!(values, want);
        }
    }
    for (key, tag) in &listing[PARTITION] {
        assert_eq!(
            tag.len(),
            PROCESSES * ROUNDS + 1,
            "lost tag entries of {key}: {tag:?}"
        );
    }
}

#[test]
fn four_processes_writing_the_same_keys_lose_nothing_standalone() {
    let server = support::server().unwrap_or_else(|e| panic!("{e}"));
    let prefix = run_children("standalone", &[server.url()]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(check(
        RedisConfig::standalone(server.url()).with_key_prefix(prefix),
    ));
}

#[test]
fn four_processes_writing_the_same_keys_lose_nothing_cluster() {
    let cluster = support::cluster().unwrap_or_else(|e| panic!("{e}"));
    let prefix = run_children("cluster", &cluster.urls());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(check(
        RedisConfig::cluster(cluster.urls()).with_key_prefix(prefix),
    ));
}
