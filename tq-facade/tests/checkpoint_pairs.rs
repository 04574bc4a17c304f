//! S4 across the built-in backends: a checkpoint saved from each of memory,
//! RocksDB and Redis (standalone) loads into each of them (9 pairs), and
//! one into and out of a 3-master Redis Cluster, with
//! the same key order, tags and values of every field (dense, jagged,
//! non-tensor), through the facade's `save_checkpoint`/`load_checkpoint`
//! on a `file://` checkpoint.
//!
//! The Redis server and cluster are `tq_test_support`'s (started on first
//! use, each store under its own key prefix). A `memory://` checkpoint,
//! the process's in-memory object store, is saved by one queue and loaded
//! by another. Needs the facade's `rocksdb` and `redis`
//! features.
#![cfg(all(feature = "rocksdb", feature = "redis"))]

use std::sync::OnceLock;

use tempfile::TempDir;
use tq_facade::serde_json::json;
use tq_facade::{
    Batch, Config, Error, NonTensor, RedisConfig, Result, RocksDbConfig, Tag, Tensor,
    TransferQueue, tag,
};
use tq_test_support::{RedisCluster, RedisServer, unique_prefix};

const PARTITION: &str = "train";
/// Neither sorted nor reverse: the order the rows were put in.
const KEYS: [&str; 4] = ["s2", "s0", "a/b", "s1"];

fn server() -> Result<&'static RedisServer> {
    static SERVER: OnceLock<std::result::Result<RedisServer, String>> = OnceLock::new();
    SERVER
        .get_or_init(RedisServer::start)
        .as_ref()
        .map_err(|e| Error::config(format!("cannot start the test Redis: {e}")))
}

fn cluster() -> Result<&'static RedisCluster> {
    static CLUSTER: OnceLock<std::result::Result<RedisCluster, String>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| RedisCluster::start(3))
        .as_ref()
        .map_err(|e| Error::config(format!("cannot start the test Redis Cluster: {e}")))
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Memory,
    RocksDb,
    Redis,
    RedisCluster,
}

/// A fresh, empty store of `kind`; the directory holds a RocksDB store.
async fn open(kind: Kind) -> Result<(TransferQueue, TempDir)> {
    let dir = tempfile::tempdir().map_err(|e| Error::unexpected("tempdir").with_source(e))?;
    let config = match kind {
        Kind::Memory => Config::new("memory"),
        Kind::RocksDb => Config::rocksdb(RocksDbConfig::new(dir.path().join("db"))),
        Kind::Redis => Config::redis(
            RedisConfig::standalone(server()?.url()).with_key_prefix(unique_prefix("ckpt")),
        ),
        Kind::RedisCluster => Config::redis(
            RedisConfig::cluster(cluster()?.urls()).with_key_prefix(unique_prefix("ckpt")),
        ),
    };
    Ok((TransferQueue::open(config).await?, dir))
}

fn tags() -> Vec<Tag> {
    vec![
        tag! {"status" => "new"},
        Tag::new(),
        tag! {"nested" => json!({"x": [1.5, true]}), "step" => 3},
        tag! {"status" => "scored", "reward" => -0.25},
    ]
}

fn batch() -> Result<Batch> {
    let jagged = vec![
        Tensor::from_vec(vec![1.5f32], [1])?,
        Tensor::from_vec(vec![2.0f32, -0.0, 7.0], [3])?,
        Tensor::from_vec(Vec::<f32>::new(), [0])?,
        Tensor::from_vec(vec![1f32, 2., 3., 4.], [2, 2])?,
    ];
    Batch::new(KEYS.len())
        .with_dense("input_ids", Tensor::from_vec((0..12i64).collect(), [4, 3])?)?
        .with_jagged("response", jagged)?
        .with_non_tensor(
            "prompt",
            vec![
                NonTensor::Str("What is 2 + 2?".into()),
                NonTensor::Str(String::new()),
                NonTensor::Bytes(vec![0u8, 255, 7].into()),
                NonTensor::Json(json!({"a": [1, null, {"b": "c"}]})),
            ],
        )
}

/// The partition's listing (key order and tags) and every field's values.
async fn contents(tq: &TransferQueue) -> Result<(Vec<(String, Tag)>, Batch)> {
    let listing = tq.kv_list(Some(PARTITION)).await?;
    let rows: Vec<(String, Tag)> = listing
        .get(PARTITION)
        .map(|p| p.iter().map(|(k, t)| (k.clone(), t.clone())).collect())
        .unwrap_or_default();
    let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
    let values = tq.kv_batch_get(&keys, PARTITION, None).await?;
    Ok((rows, values))
}

async fn pair(from: Kind, to: Kind) -> Result<()> {
    let bucket = tempfile::tempdir().map_err(|e| Error::unexpected("tempdir").with_source(e))?;
    pair_through(from, to, &format!("file://{}", bucket.path().display())).await
}

async fn pair_through(from: Kind, to: Kind, url: &str) -> Result<()> {
    let (source, _source_dir) = open(from).await?;
    source
        .kv_batch_put(&KEYS, PARTITION, Some(batch()?), Some(tags()))
        .await?;
    let expected = contents(&source).await?;
    assert_eq!(
        expected
            .0
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>(),
        KEYS,
        "{from:?} lists the keys in put order"
    );

    let manifest = source.save_checkpoint(url, Some(&[PARTITION])).await?;
    assert!(manifest.partitions.iter().all(|p| p.consistent));

    let (target, _target_dir) = open(to).await?;
    target.load_checkpoint(url).await?;
    let got = contents(&target).await?;
    assert_eq!(got.0, expected.0, "{from:?} -> {to:?}: listing");
    assert_eq!(got.1, expected.1, "{from:?} -> {to:?}: values");
    Ok(())
}

macro_rules! pairs {
    ($($name:ident: $from:ident -> $to:ident,)*) => {$(
        #[tokio::test]
        async fn $name() -> Result<()> {
            pair(Kind::$from, Kind::$to).await
        }
    )*};
}

pairs! {
    s4_memory_to_memory: Memory -> Memory,
    s4_memory_to_rocksdb: Memory -> RocksDb,
    s4_memory_to_redis: Memory -> Redis,
    s4_rocksdb_to_memory: RocksDb -> Memory,
    s4_rocksdb_to_rocksdb: RocksDb -> RocksDb,
    s4_rocksdb_to_redis: RocksDb -> Redis,
    s4_redis_to_memory: Redis -> Memory,
    s4_redis_to_rocksdb: Redis -> RocksDb,
    s4_redis_to_redis: Redis -> Redis,
    s4_memory_to_redis_cluster: Memory -> RedisCluster,
    s4_redis_cluster_to_rocksdb: RedisCluster -> RocksDb,
}

#[tokio::test]
async fn s1_memory_url_checkpoint_loads_into_another_queue() -> Result<()> {
    // Two queues, one URL: the checkpoint lives in the process's in-memory
    // object store between them.
    pair_through(Kind::Memory, Kind::Memory, "memory:///pairs/step-1").await
}
