//! Runs a workload on a single-threaded runtime next to a heartbeat task, to
//! see whether the backend ever holds the executor thread (Behavior B9).
//!
//! On a current-thread runtime every task shares one thread, so a backend
//! that blocks it (a synchronous disk write, a blocking socket, a lock held
//! across an await) stops the heartbeat for as long as it blocks, or for
//! ever if it waits on something the executor itself would have to run.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long the heartbeat may stall before the case fails. A put that
/// writes synchronously to disk or blocks on a socket stalls it for that
/// long; scheduling noise on a busy machine stays well below it.
pub(crate) const MAX_STALL: Duration = Duration::from_millis(500);

/// How long the whole workload may take before the executor counts as
/// deadlocked.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `workload` on a fresh current-thread runtime on a blocking-pool
/// thread, next to a heartbeat task that beats every millisecond, while an
/// OS thread samples how long ago the last beat was. Returns the longest
/// time the heartbeat went without beating, or an error when the workload
/// did not finish in time. The workload should yield between calls, so that
/// the heartbeat gets its turn whenever the executor is free.
pub(crate) async fn longest_stall<W, Fut>(workload: W) -> Result<Duration, String>
where
    W: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let base = Instant::now();
    let micros = move || u64::try_from(base.elapsed().as_micros()).unwrap_or(u64::MAX);
    let last_beat = Arc::new(AtomicU64::new(micros()));
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (last_beat, running) = (last_beat.clone(), running.clone());
        std::thread::spawn(move || {
            let mut longest = 0;
            while running.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(2));
                longest = longest.max(micros().saturating_sub(last_beat.load(Ordering::Acquire)));
            }
            Duration::from_micros(longest)
        })
    };
    let beat = last_beat.clone();
    let thread = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot build a current-thread runtime: {e}"))?;
        runtime.block_on(async move {
            let heartbeat = tokio::spawn(async move {
                loop {
                    beat.store(micros(), Ordering::Release);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            });
            // Let the heartbeat start before the workload takes the thread.
            tokio::task::yield_now().await;
            workload().await;
            heartbeat.abort();
        });
        Ok::<(), String>(())
    });
    let outcome = tokio::time::timeout(DEADLINE, thread).await;
    running.store(false, Ordering::Release);
    let longest = sampler
        .join()
        .map_err(|_| "the sampler thread panicked".to_owned())?;
    match outcome {
        Err(_) => Err(format!(
            "the workload did not finish within {DEADLINE:?} on a current-thread runtime: \
             a call blocks the executor thread while waiting for work that thread should run"
        )),
        Ok(Err(join)) => Err(format!("the workload panicked: {join}")),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Ok(Ok(()))) => Ok(longest),
    }
}
