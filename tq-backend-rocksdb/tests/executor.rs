//! Behavior B9: no RocksDB call blocks an async executor thread.
//!
//! On a current-thread runtime a spinning task can only run while the test's
//! own future is suspended. If an operation ran RocksDB inline, it would
//! finish within one poll and the spinner would not advance; because every
//! call goes through `spawn_blocking`, the spinner runs during each call.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tq_backend_rocksdb::{RocksDbBackend, RocksDbConfig};
use tq_core::{KvStore, Row, Tensor, tag};

#[tokio::test(flavor = "current_thread")]
async fn every_operation_lets_the_executor_thread_run_other_tasks() {
    let spins = Arc::new(AtomicU64::new(0));
    let spinner = tokio::spawn({
        let spins = spins.clone();
        async move {
            loop {
                spins.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        }
    });
    let ran_during = |before: u64| spins.load(Ordering::Relaxed) > before;

    let dir = tempfile::tempdir().unwrap();
    let before = spins.load(Ordering::Relaxed);
    let backend = RocksDbBackend::open(RocksDbConfig::new(dir.path()))
        .await
        .unwrap();
    assert!(ran_during(before), "open blocked the executor");
    let kv = KvStore::new(Arc::new(backend));

    let row = Row::new().with("x", Tensor::zeros(tq_core::DType::F32, [1 << 20]).unwrap());
    let before = spins.load(Ordering::Relaxed);
    kv.kv_put("k", "p", Some(row), Some(tag! {"a" => 1}))
        .await
        .unwrap();
    assert!(ran_during(before), "put blocked the executor");

    let before = spins.load(Ordering::Relaxed);
    kv.kv_batch_get(&["k"], "p", None).await.unwrap();
    assert!(ran_during(before), "get blocked the executor");

    let before = spins.load(Ordering::Relaxed);
    kv.kv_list(None).await.unwrap();
    assert!(ran_during(before), "list blocked the executor");

    let before = spins.load(Ordering::Relaxed);
    assert_eq!(kv.kv_clear(&["k"], "p", None).await.unwrap(), 1);
    assert!(ran_during(before), "clear blocked the executor");
    spinner.abort();
}
