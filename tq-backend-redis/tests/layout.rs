//! Where the data lands: a partition's bytes spread over the cluster's
//! masters, and a clear leaves no key of the row behind, cell keys
//! included (SCAN of every node), in both modes.

mod support;

use std::sync::Arc;

use tq_backend_redis::RedisBackend;
use tq_core::{Batch, KvStore, Tag, Tensor, tag};

/// `(key, MEMORY USAGE)` of every key of `backend`'s store on one node.
async fn node_keys(url: &str, backend: &RedisBackend) -> Vec<(String, u64)> {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let pattern = backend.layout().scan_pattern();
    let mut cursor = 0u64;
    let mut keys: Vec<String> = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let mut pipe = redis::pipe();
    for k in &keys {
        pipe.cmd("MEMORY").arg("USAGE").arg(k);
    }
    let sizes: Vec<Option<u64>> = if keys.is_empty() {
        Vec::new()
    } else {
        pipe.query_async(&mut conn).await.unwrap()
    };
    keys.into_iter()
        .zip(sizes)
        .map(|(k, s)| (k, s.unwrap_or(0)))
        .collect()
}

fn store_level_keys(backend: &RedisBackend) -> Vec<String> {
    let mut want: Vec<String> = [backend.layout().counter(), backend.layout().layout_marker()]
        .into_iter()
        .map(|k| String::from_utf8(k).unwrap())
        .collect();
    want.sort();
    want
}

async fn fill(kv: &KvStore, partition: &str, n: usize, bytes_per_row: usize) -> Vec<String> {
    let keys: Vec<String> = (0..n).map(|i| format!("row-{i}")).collect();
    for chunk in keys.chunks(1000) {
        let data: Vec<u8> = (0..chunk.len() * bytes_per_row).map(|i| i as u8).collect();
        let tensor = Tensor::new(tq_core::DType::U8, [chunk.len(), bytes_per_row], data).unwrap();
        let batch = Batch::new(chunk.len()).with_dense("x", tensor).unwrap();
        let tags: Vec<Tag> = chunk.iter().map(|_| tag! {"status" => "new"}).collect();
        kv.kv_batch_put(chunk, partition, Some(batch), Some(tags))
            .await
            .unwrap();
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_spreads_a_partition_over_the_masters() {
    let cluster = support::cluster().unwrap_or_else(|e| panic!("{e}"));
    let backend = support::clustered().await.unwrap();
    let kv = KvStore::new(Arc::new(backend.clone()));
    let keys = fill(&kv, "big", 3000, 1024).await;

    let mut per_node = Vec::new();
    for url in cluster.urls() {
        let bytes: u64 = node_keys(&url, &backend).await.iter().map(|(_, s)| s).sum();
        per_node.push(bytes);
    }
    let total: u64 = per_node.iter().sum();
    eprintln!("bytes per master: {per_node:?} (total {total})");
    assert!(total > 3000 * 1024, "{per_node:?}");
    for &bytes in &per_node {
        let share = bytes as f64 / total as f64;
        assert!(
            share <= 0.60,
            "one master holds {:.1}% of the bytes: {per_node:?}",
            share * 100.0
        );
        assert!(share >= 0.10, "a master holds almost nothing: {per_node:?}");
    }

    // Reads go one pipeline per master too; nothing needed a redirection.
    let batch = kv.kv_batch_get(&keys, "big", None).await.unwrap();
    assert_eq!(batch.num_rows(), 3000);
    assert_eq!(kv.kv_list(Some("big")).await.unwrap()["big"].len(), 3000);
    assert_eq!(backend.redirected_commands(), 0);

    // Rows of 20 KiB cells: each cell under a key of its own, in its row's
    // slot (a clear removes them too).
    let large = fill(&kv, "large", 60, 20 * 1024).await;
    let mut cell_keys = 0;
    for url in cluster.urls() {
        cell_keys += node_keys(&url, &backend)
            .await
            .iter()
            .filter(|(k, _)| k.contains("}:c:"))
            .count();
    }
    assert_eq!(cell_keys, 60);
    assert_eq!(kv.kv_clear(&large, "large", None).await.unwrap(), 60);

    // Clearing every row leaves only the two store-level keys.
    assert_eq!(kv.kv_clear(&keys, "big", None).await.unwrap(), 3000);
    let mut left: Vec<String> = Vec::new();
    for url in cluster.urls() {
        left.extend(node_keys(&url, &backend).await.into_iter().map(|(k, _)| k));
    }
    left.sort();
    assert_eq!(left, store_level_keys(&backend));
    assert!(kv.kv_list(None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_leaves_no_key_behind_standalone() {
    let server = support::server().unwrap_or_else(|e| panic!("{e}"));
    let backend = support::standalone().await.unwrap();
    let kv = KvStore::new(Arc::new(backend.clone()));
    let a = fill(&kv, "a", 50, 16).await;
    let b = fill(&kv, "b:{x}", 50, 16).await;
    // 20 KiB cells: under keys of their own.
    let c = fill(&kv, "c", 20, 20 * 1024).await;
    kv.kv_put("tag-only", "a", None, Some(Tag::new()))
        .await
        .unwrap();
    let before = node_keys(&server.url(), &backend).await;
    assert!(before.len() > 100);
    assert_eq!(
        before.iter().filter(|(k, _)| k.contains("}:c:")).count(),
        20
    );
    assert_eq!(kv.kv_clear(&c, "c", None).await.unwrap(), 20);
    assert_eq!(kv.kv_clear(&a, "a", None).await.unwrap(), 50);
    assert_eq!(kv.kv_clear(&b, "b:{x}", None).await.unwrap(), 50);
    assert_eq!(kv.kv_clear(&["tag-only"], "a", None).await.unwrap(), 1);
    let mut left: Vec<String> = node_keys(&server.url(), &backend)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    left.sort();
    assert_eq!(left, store_level_keys(&backend));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_client_with_other_buckets_is_refused() {
    let cfg = support::standalone_config().unwrap();
    RedisBackend::open(cfg.clone()).await.unwrap();
    let mut other = cfg;
    other.buckets = Some(8);
    let err = RedisBackend::open(other).await.unwrap_err();
    assert_eq!(err.kind(), tq_core::ErrorKind::Config, "{err}");
    assert_eq!(err.context_value("setting"), Some("buckets"));
}
