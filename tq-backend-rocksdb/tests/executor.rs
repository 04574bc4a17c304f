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
    let put = || kv.kv_put("k", "p", Some(row.clone()), Some(tag! {"a" => 1}));
    assert!(
        lets_others_run(&spins, || async {
            put().await.unwrap();
        })
        .await,
        "put blocked the executor"
    );
    assert!(
        lets_others_run(&spins, || async {
            kv.kv_batch_get(&["k"], "p", None).await.unwrap();
        })
        .await,
        "get blocked the executor"
    );
    assert!(
        lets_others_run(&spins, || async {
            kv.kv_list(None).await.unwrap();
        })
        .await,
        "list blocked the executor"
    );
    assert_eq!(kv.kv_clear(&["k"], "p", None).await.unwrap(), 1);
    assert!(
        lets_others_run(&spins, || async {
            kv.kv_clear(&["k"], "p", None).await.unwrap();
        })
        .await,
        "clear blocked the executor"
    );
    spinner.abort();
}

/// Whether the spinner ran during at least one of five runs of `op`. A call
/// through `spawn_blocking` can be done before its handle is first polled
/// (a fast call on an idle machine), so one run may not show it; an inline
/// call never lets the spinner run, in any run.
async fn lets_others_run<F, Fut>(spins: &AtomicU64, mut op: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..5 {
        let before = spins.load(Ordering::Relaxed);
        op().await;
        if spins.load(Ordering::Relaxed) > before {
            return true;
        }
    }
    false
}
