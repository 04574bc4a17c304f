//! kv_list after churn: how long listing a small partition takes on a
//! fresh store, and again after many put + clear cycles of other keys in
//! the same partition (an RL loop that puts and clears every step).

use std::time::{Duration, Instant};

use tq_facade::{Batch, Row, Tensor, TransferQueue};

use crate::report::{Figure, Target};

/// Keys that stay in the listed partition.
pub const LISTED_KEYS: usize = 16;
/// kv_list calls per median.
pub const LIST_SAMPLES: usize = 51;
/// The target: listing after churn within 2x of fresh.
pub const MAX_RATIO: f64 = 2.0;
const PARTITION: &str = "churn";

/// The times one churn case measured.
#[derive(Debug, Clone)]
pub struct ChurnTimes {
    /// Each kv_list on the fresh store.
    pub fresh: Vec<Duration>,
    /// All the put + clear cycles together.
    pub cycles: Duration,
    /// Each kv_list after the cycles.
    pub churned: Vec<Duration>,
}

fn err(op: &str) -> impl Fn(tq_facade::Error) -> String + '_ {
    move |e| format!("list churn {op}: {e}")
}

async fn lists(tq: &TransferQueue, n: usize) -> Result<Vec<Duration>, String> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let listing = tq.kv_list(Some(PARTITION)).await.map_err(err("kv_list"))?;
        out.push(start.elapsed());
        let keys = listing.get(PARTITION).map_or(0, |rows| rows.len());
        if keys != LISTED_KEYS {
            return Err(format!(
                "list churn: kv_list found {keys} keys, expected {LISTED_KEYS}"
            ));
        }
    }
    Ok(out)
}

/// On `tq` (a fresh store): puts 16 rows of `tiny_len` float32s, times
/// [`LIST_SAMPLES`] kv_lists of their partition, runs `cycles` kv_put +
/// kv_clear of one other key each in the same partition, and times the
/// lists again.
pub async fn run(tq: &TransferQueue, cycles: usize, tiny_len: usize) -> Result<ChurnTimes, String> {
    let len = tiny_len.max(1);
    let keys: Vec<String> = (0..LISTED_KEYS).map(|i| format!("listed_{i}")).collect();
    let t = Tensor::from_vec(vec![0.25f32; LISTED_KEYS * len], [LISTED_KEYS, len])
        .map_err(err("tensor"))?;
    let batch = Batch::new(LISTED_KEYS)
        .with_dense("x", t)
        .map_err(err("batch"))?;
    tq.kv_batch_put(&keys, PARTITION, Some(batch), None)
        .await
        .map_err(err("kv_batch_put"))?;
    let fresh = lists(tq, LIST_SAMPLES).await?;

    let tiny = Tensor::from_vec(vec![0.5f32; len], [len]).map_err(err("tensor"))?;
    let start = Instant::now();
    for i in 0..cycles {
        let key = format!("churn_{i}");
        tq.kv_put(
            &key,
            PARTITION,
            Some(Row::new().with("x", tiny.clone())),
            None,
        )
        .await
        .map_err(err("kv_put"))?;
        let removed = tq
            .kv_clear(std::slice::from_ref(&key), PARTITION, None)
            .await
            .map_err(err("kv_clear"))?;
        if removed != 1 {
            return Err(format!("list churn: kv_clear removed {removed} of 1 row"));
        }
    }
    let cycles_time = start.elapsed();
    let churned = lists(tq, LIST_SAMPLES).await?;
    tq.kv_clear(&keys, PARTITION, None)
        .await
        .map_err(err("kv_clear"))?;
    Ok(ChurnTimes {
        fresh,
        cycles: cycles_time,
        churned,
    })
}

/// The figures of one churn case: the fresh list, the put + clear cycles
/// (ops/s), and the list after them with its ratio of medians to fresh.
pub fn figures(backend: &str, cycles: usize, t: &ChurnTimes) -> Vec<Figure> {
    let label = format!("kv_list after churn: {LISTED_KEYS} keys, {cycles} put+clear cycles");
    let secs = |v: &[Duration]| v.iter().map(Duration::as_secs_f64).collect::<Vec<_>>();
    let fresh = Figure::new(
        backend,
        &label,
        &format!("kv_list of {LISTED_KEYS} keys, fresh store"),
        secs(&t.fresh),
    )
    .ops(1);
    let cycle = Figure::new(
        backend,
        &label,
        "put + clear cycles (kv_put, kv_clear)",
        vec![t.cycles.as_secs_f64()],
    )
    .ops(cycles);
    let churned = Figure::new(
        backend,
        &label,
        &format!("kv_list of {LISTED_KEYS} keys, after {cycles} cycles"),
        secs(&t.churned),
    )
    .ops(1)
    .against_median(&fresh)
    .target(Target::MaxRatio(MAX_RATIO));
    vec![fresh, cycle, churned]
}
