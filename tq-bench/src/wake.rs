//! The wake-up case: how long after a `kv_put` returns does a `kv_wait` on
//! that key return? Each round a waiter task calls `kv_wait` on a fresh key
//! and another task (for Redis: another process) puts one small row for it;
//! the latency is the waiter's return minus the put's return, on
//! CLOCK_MONOTONIC, which both processes share.
//!
//! The baseline is measured in the same run: for in-process backends a
//! `tokio::sync::Notify` wake-up between two tasks, timed the same way; for
//! Redis a PING round trip on a plain connection to the same server.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;
use tq_facade::{Row, Tensor, TransferQueue};

use crate::open::Opened;
use crate::report::{Target, fmt_time};
use crate::run::Options;

/// The partition every wake-up key lives in.
pub const PARTITION: &str = "wake";
/// Elements of the float32 field `x` each round puts.
pub const ROW_LEN: usize = 16;
/// How long the putter waits after the waiter says it is about to call
/// `kv_wait`: time for the call to subscribe (and check once) before the
/// put, so that the put wakes a waiter that is really waiting instead of
/// landing before the subscription (which `kv_wait`'s first check would
/// then find, measuring nothing). In process that takes microseconds; a
/// Redis subscription or first check is one loopback round trip.
pub const PAUSE: Duration = Duration::from_millis(2);
/// Untimed rounds first (connections, first allocations).
pub const WARMUP_ROUNDS: usize = 10;
/// The p50 the issue asks of the memory backend.
pub const MEMORY_P50_GOAL: f64 = 50e-6;
/// Redis: p50 at most this many PING round trips.
pub const REDIS_RATIO_GOAL: f64 = 3.0;
const TIMEOUT: Duration = Duration::from_secs(10);

/// Nanoseconds on CLOCK_MONOTONIC: one clock for every process of the
/// machine, so a child's put and the parent's waiter can be compared.
pub fn now_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// The nearest-rank `p`-th percentile (0 < p <= 100) of ascending
/// `sorted`: the smallest sample with at least p% of the samples at or
/// below it. NaN for none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Percentiles of one set of wake-ups.
#[derive(Debug, Clone, Serialize)]
pub struct Latencies {
    /// Rounds measured.
    pub rounds: usize,
    /// Median (nearest rank), seconds.
    pub p50_s: f64,
    /// 99th percentile (nearest rank), seconds.
    pub p99_s: f64,
    /// Largest, seconds.
    pub max_s: f64,
    /// Rounds whose waiter returned before the put (or notify) returned to
    /// its caller: counted as 0 in the percentiles.
    pub early: usize,
}

impl Latencies {
    /// From signed latencies in nanoseconds (negative: the waiter was
    /// first), saturated at 0.
    pub fn from_ns(ns: &[i64]) -> Self {
        let early = ns.iter().filter(|&&d| d < 0).count();
        let mut s: Vec<f64> = ns.iter().map(|&d| d.max(0) as f64 / 1e9).collect();
        s.sort_by(f64::total_cmp);
        Latencies {
            rounds: s.len(),
            p50_s: percentile(&s, 50.0),
            p99_s: percentile(&s, 99.0),
            max_s: s.last().copied().unwrap_or(f64::NAN),
            early,
        }
    }
}

/// The wake-up figure of one backend.
#[derive(Debug, Clone, Serialize)]
pub struct WakeFigure {
    /// Backend name.
    pub backend: String,
    /// Workload label.
    pub workload: String,
    /// What was measured.
    pub name: String,
    /// The store's `Capabilities::notifications` (push or polling).
    pub notifications: String,
    /// Where the put came from.
    pub putter: String,
    /// kv_put return -> kv_wait return.
    pub latency: Latencies,
    /// The baseline's name.
    pub baseline: String,
    /// The baseline's figures over as many rounds.
    pub baseline_latency: Latencies,
    /// `latency.p50_s / baseline_latency.p50_s`.
    pub ratio: f64,
    /// The goal, if the issue sets one (memory: p50 at most 50 us; Redis:
    /// ratio at most 3).
    pub target: Option<Target>,
    /// Whether it is met.
    pub met: Option<bool>,
}

fn err(op: &str) -> impl Fn(tq_facade::Error) -> String + '_ {
    move |e| format!("wake-up {op}: {e}")
}

/// The row each round puts.
pub fn row() -> Result<Row, String> {
    let t = Tensor::from_vec(vec![0.25f32; ROW_LEN], [ROW_LEN]).map_err(err("tensor"))?;
    Ok(Row::new().with("x", t))
}

/// The key of round `i`.
pub fn key(i: usize) -> String {
    format!("wake_{i}")
}

/// One round: spawns the waiter, lets it start, runs the putter; both
/// return the CLOCK_MONOTONIC instant they finished. Returns waiter - put.
async fn round<W, P>(wait: W, put: P) -> Result<i64, String>
where
    W: Future<Output = Result<(), String>> + Send + 'static,
    P: Future<Output = Result<i64, String>> + Send + 'static,
{
    let (ready_tx, ready_rx) = oneshot::channel();
    let waiter = tokio::spawn(async move {
        let _ = ready_tx.send(());
        wait.await.map(|()| now_ns())
    });
    ready_rx
        .await
        .map_err(|_| "the waiter task ended early".to_owned())?;
    tokio::time::sleep(PAUSE).await;
    let put_done = tokio::spawn(put)
        .await
        .map_err(|e| format!("putter task: {e}"))??;
    let done = waiter.await.map_err(|e| format!("waiter task: {e}"))??;
    Ok(done - put_done)
}

/// `n` rounds (after the warm-up) of `make(i)`'s waiter and putter.
pub(crate) async fn rounds<F, W, P>(n: usize, mut make: F) -> Result<Vec<i64>, String>
where
    F: FnMut(usize) -> Result<(W, P), String>,
    W: Future<Output = Result<(), String>> + Send + 'static,
    P: Future<Output = Result<i64, String>> + Send + 'static,
{
    let mut out = Vec::with_capacity(n);
    for i in 0..WARMUP_ROUNDS + n {
        let (w, p) = make(i)?;
        let d = round(w, p).await?;
        if i >= WARMUP_ROUNDS {
            out.push(d);
        }
    }
    Ok(out)
}

/// A waiter on `waiter`'s store for round `i`'s key.
pub(crate) fn wait_on(tq: TransferQueue, i: usize) -> impl Future<Output = Result<(), String>> {
    let k = key(i);
    async move {
        tq.kv_wait(&[k.as_str()], PARTITION, Some(&["x"]), TIMEOUT)
            .await
            .map_err(err("kv_wait"))
    }
}

/// Wake-ups with the put from another task on `putter` (the same store
/// as `waiter`, or a second connection to it).
pub async fn in_process(
    waiter: &TransferQueue,
    putter: &TransferQueue,
    n: usize,
) -> Result<Vec<i64>, String> {
    let r = row()?;
    let out = rounds(n, |i| {
        let (tq, k, r) = (putter.clone(), key(i), r.clone());
        let put = async move {
            tq.kv_put(&k, PARTITION, Some(r), None)
                .await
                .map_err(err("kv_put"))?;
            Ok(now_ns())
        };
        Ok((wait_on(waiter.clone(), i), put))
    })
    .await?;
    clear(waiter, n).await?;
    Ok(out)
}

/// Removes the rows the rounds put.
pub async fn clear(tq: &TransferQueue, n: usize) -> Result<(), String> {
    let keys: Vec<String> = (0..WARMUP_ROUNDS + n).map(key).collect();
    tq.kv_clear(&keys, PARTITION, None)
        .await
        .map_err(err("kv_clear"))?;
    Ok(())
}

/// The in-process baseline: a `Notify` wake-up between two tasks, timed
/// like a round (notify_one returning -> notified() returning).
pub async fn notify_baseline(n: usize) -> Result<Vec<i64>, String> {
    rounds(n, |_| {
        let notify = std::sync::Arc::new(tokio::sync::Notify::new());
        let n2 = notify.clone();
        let wait = async move {
            notify.notified().await;
            Ok(())
        };
        let put = async move {
            n2.notify_one();
            Ok(now_ns())
        };
        Ok((wait, put))
    })
    .await
}

/// Runs the case on `b`: in process for memory and RocksDB, from another
/// process (or, without one, another connection) for Redis.
pub async fn wake_case(b: &Opened, opts: &Options) -> Result<WakeFigure, String> {
    let n = opts.wake_ups;
    #[cfg(feature = "redis")]
    if let Some(target) = &b.redis {
        return crate::wake_child::redis_case(b, target, opts).await;
    }
    let notifications = format!("{:?}", b.tq.capabilities().notifications);
    let latency = Latencies::from_ns(&in_process(&b.tq, &b.tq, n).await?);
    let base = Latencies::from_ns(&notify_baseline(n).await?);
    let target = (b.name == "memory").then_some(Target::MaxValue(MEMORY_P50_GOAL));
    Ok(figure(
        b,
        n,
        notifications,
        "another task, same store".into(),
        latency,
        "tokio Notify wake-up between tasks".into(),
        base,
        target,
    ))
}

/// Assembles the figure and checks its goal.
#[allow(clippy::too_many_arguments)] // every piece is one field of the figure
pub(crate) fn figure(
    b: &Opened,
    n: usize,
    notifications: String,
    putter: String,
    latency: Latencies,
    baseline: String,
    baseline_latency: Latencies,
    target: Option<Target>,
) -> WakeFigure {
    let ratio = latency.p50_s / baseline_latency.p50_s;
    let met = target.map(|t| match t {
        Target::MaxRatio(max) => ratio <= max,
        Target::MaxValue(max) => latency.p50_s <= max,
        Target::MinRate(_) => false,
    });
    WakeFigure {
        backend: b.name.clone(),
        workload: format!("{n} wake-ups, row of {ROW_LEN} x f32"),
        name: "kv_wait wake-up after kv_put".into(),
        notifications,
        putter,
        latency,
        baseline,
        baseline_latency,
        ratio,
        target,
        met,
    }
}

/// The wake-up figures as a table.
pub fn table(figs: &[WakeFigure]) -> String {
    if figs.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n== wake-up latency: kv_put returns -> kv_wait returns (p50 / p99 / max; early = waiter returned first, counted as 0) ==\n",
    );
    let row = |name: &str, l: &Latencies| {
        format!(
            "  {:<40} {:>10} {:>10} {:>10}  early {}/{}\n",
            name,
            fmt_time(l.p50_s),
            fmt_time(l.p99_s),
            fmt_time(l.max_s),
            l.early,
            l.rounds
        )
    };
    for f in figs {
        out.push_str(&format!(
            "{} / {}: notifications {}; put from {}\n",
            f.backend, f.workload, f.notifications, f.putter
        ));
        out.push_str(&row(&f.name, &f.latency));
        out.push_str(&row(&f.baseline, &f.baseline_latency));
        let goal = match (f.target, f.met) {
            (Some(Target::MaxValue(v)), Some(m)) => {
                format!("; goal p50 <= {}: {}", fmt_time(v), met_word(m))
            }
            (Some(Target::MaxRatio(r)), Some(m)) => {
                format!("; goal ratio <= {r}x: {}", met_word(m))
            }
            _ => String::new(),
        };
        out.push_str(&format!("  ratio of p50s {:.2}x{goal}\n", f.ratio));
    }
    out
}

fn met_word(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&s, 50.0), 50.0);
        assert_eq!(percentile(&s, 99.0), 99.0);
        assert_eq!(percentile(&s, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 50.0), 7.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50.0), 2.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 99.0), 3.0);
        assert_eq!(percentile(&[1.0, 2.0], 0.0), 1.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn early_wake_ups_count_as_zero() {
        let l = Latencies::from_ns(&[-5_000, 2_000, 1_000, 3_000]);
        assert_eq!(l.rounds, 4);
        assert_eq!(l.early, 1);
        assert_eq!(l.p50_s, 1e-6);
        assert_eq!(l.p99_s, 3e-6);
        assert_eq!(l.max_s, 3e-6);
    }
}
