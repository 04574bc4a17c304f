//! `kv_list` of one partition scans only the band of sequence numbers its
//! live rows are in (`src/live_range.rs`). The band may only ever be too
//! wide: these tests put, clear and list in the orders that move it, and
//! race puts against listings, and check that no listing misses a row
//! whose put had returned before it began, or shows a cleared one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tq_backend_rocksdb::{RocksDbBackend, RocksDbConfig};
use tq_core::{KvStore, Row, tag};

async fn open(dir: &tempfile::TempDir) -> KvStore {
    let mut config = RocksDbConfig::new(dir.path());
    config.sync_writes = false;
    KvStore::new(Arc::new(RocksDbBackend::open(config).await.unwrap()))
}

fn row(i: usize) -> Row {
    Row::new().with("i", serde_json::json!(i))
}

async fn keys(kv: &KvStore, p: &str) -> Vec<String> {
    let listing = kv.kv_list(Some(p)).await.unwrap();
    assert!(
        listing.len() <= 1,
        "a partition listing holds one partition"
    );
    listing
        .get(p)
        .map(|rows| rows.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn rows_put_below_above_and_after_an_emptied_band_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(&dir).await;
    for k in ["a", "b", "c"] {
        kv.kv_put(k, "p", Some(row(0)), None).await.unwrap();
    }
    assert_eq!(keys(&kv, "p").await, ["a", "b", "c"]);
    // Churn above the live rows, then list twice (the band narrows).
    for i in 0..200 {
        let k = format!("churn_{i}");
        kv.kv_put(&k, "p", Some(row(i)), None).await.unwrap();
        kv.kv_clear(&[k.as_str()], "p", None).await.unwrap();
    }
    assert_eq!(keys(&kv, "p").await, ["a", "b", "c"]);
    assert_eq!(keys(&kv, "p").await, ["a", "b", "c"]);
    // Clear the lowest and the highest: the band narrows to "b".
    kv.kv_clear(&["a", "c"], "p", None).await.unwrap();
    assert_eq!(keys(&kv, "p").await, ["b"]);
    // A re-put of "b" keeps its place; a new row goes after it.
    kv.kv_put("b", "p", None, Some(tag! {"n" => 1}))
        .await
        .unwrap();
    kv.kv_put("d", "p", Some(row(1)), None).await.unwrap();
    assert_eq!(keys(&kv, "p").await, ["b", "d"]);
    // Empty the partition, list (the band is empty), then put again.
    kv.kv_clear(&["b", "d"], "p", None).await.unwrap();
    assert!(keys(&kv, "p").await.is_empty());
    assert!(keys(&kv, "p").await.is_empty());
    kv.kv_put("e", "p", Some(row(2)), None).await.unwrap();
    assert_eq!(keys(&kv, "p").await, ["e"]);
    // Other partitions have their own band.
    kv.kv_put("x", "q", Some(row(3)), None).await.unwrap();
    assert_eq!(keys(&kv, "q").await, ["x"]);
    assert_eq!(keys(&kv, "p").await, ["e"]);
    let all = kv.kv_list(None).await.unwrap();
    assert_eq!(all.len(), 2);
}

#[tokio::test]
async fn after_a_reopen_the_whole_partition_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let kv = open(&dir).await;
        for k in ["a", "b"] {
            kv.kv_put(k, "p", Some(row(0)), None).await.unwrap();
        }
        assert_eq!(keys(&kv, "p").await, ["a", "b"]);
        kv.kv_clear(&["a"], "p", None).await.unwrap();
        kv.kv_put("c", "p", Some(row(0)), None).await.unwrap();
    }
    let kv = open(&dir).await;
    assert_eq!(keys(&kv, "p").await, ["b", "c"]);
    kv.kv_put("d", "p", Some(row(0)), None).await.unwrap();
    assert_eq!(keys(&kv, "p").await, ["b", "c", "d"]);
}

/// Writers put new rows (and clear some) while listers list: every row
/// whose put returned before a listing began is in it, in insertion order
/// among the rows that stayed, and no row cleared before it began is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_puts_never_hide_an_acknowledged_row() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Arc::new(open(&dir).await);
    // Rows 0..acked are acknowledged; rows divisible by 3 are cleared
    // right after their put, and 0..cleared of those are acknowledged.
    let acked = Arc::new(AtomicUsize::new(0));
    const ROWS: usize = 600;
    let writer = {
        let (kv, acked) = (kv.clone(), acked.clone());
        tokio::spawn(async move {
            for i in 0..ROWS {
                let k = format!("k{i:04}");
                kv.kv_put(&k, "p", Some(row(i)), None).await.unwrap();
                if i % 3 == 0 {
                    kv.kv_clear(&[k.as_str()], "p", None).await.unwrap();
                }
                acked.store(i + 1, Ordering::SeqCst);
            }
        })
    };
    let mut listings = 0;
    while !writer.is_finished() || listings == 0 {
        let before = acked.load(Ordering::SeqCst);
        let listed = keys(&kv, "p").await;
        let listed_set: std::collections::HashSet<&str> =
            listed.iter().map(String::as_str).collect();
        for i in 0..before {
            let k = format!("k{i:04}");
            assert_eq!(
                listed_set.contains(k.as_str()),
                i % 3 != 0,
                "row {k} (acknowledged before listing {listings}, cleared: {})",
                i % 3 == 0
            );
        }
        let mut sorted = listed.clone();
        sorted.sort();
        assert_eq!(listed, sorted, "insertion order is the put order");
        listings += 1;
    }
    writer.await.unwrap();
    let all = keys(&kv, "p").await;
    assert_eq!(all.len(), ROWS - ROWS.div_ceil(3));
}
