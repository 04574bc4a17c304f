//! The timed operations: one perftest iteration (PUT -> LIST -> GET ->
//! DELETE), the small-op workload, and the stored-overhead probe.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tq_facade::core::buffer;
use tq_facade::{Batch, Column, Row, Tensor, TransferQueue};

use crate::data::Payload;
use crate::mem;
use crate::report::OverheadFigure;

/// The times of one iteration.
#[derive(Debug, Clone, Copy)]
pub struct IterationTimes {
    /// `kv_batch_put` of every row and field.
    pub put: Duration,
    /// `kv_list` of the partition.
    pub list: Duration,
    /// `kv_batch_get` of the listed keys, all fields.
    pub get: Duration,
    /// `kv_clear` of the listed keys.
    pub clear: Duration,
    /// The same get again with tq-core's output pool turned off (every
    /// output buffer freshly allocated), if asked for.
    pub cold_get: Option<Duration>,
}

fn err(op: &str) -> impl Fn(tq_facade::Error) -> String + '_ {
    move |e| format!("{op}: {e}")
}

/// Checks a get's batch against the payload: rows, fields, shapes, and with
/// `verify` every byte.
pub(crate) fn check_get(payload: &Payload, got: &Batch, verify: bool) -> Result<(), String> {
    if got.num_rows() != payload.shape.batch || got.num_columns() != payload.fields.len() {
        return Err(format!(
            "get returned {} rows x {} fields, expected {} x {}",
            got.num_rows(),
            got.num_columns(),
            payload.shape.batch,
            payload.fields.len()
        ));
    }
    for f in &payload.fields {
        let Some(Column::Tensor(col)) = got.column(&f.name) else {
            return Err(format!("get returned no tensor column {}", f.name));
        };
        if col.offsets() != f.offsets.as_slice() {
            return Err(format!("get returned other row sizes for {}", f.name));
        }
        if verify && col.data()[..] != f.data[..] {
            return Err(format!("get returned other bytes for {}", f.name));
        }
    }
    Ok(())
}

/// One iteration of the Python perftest on `partition`: PUT (kv_batch_put),
/// LIST (kv_list), GET (kv_batch_get of the listed keys, all fields),
/// DELETE (kv_clear). The get's output is dropped outside the timer.
///
/// With `cold_get`, a second get follows with tq-core's output buffer pool
/// turned off (so its output is freshly allocated memory, the first get of a
/// process or of a new size), and the pool limit is restored afterwards.
pub async fn iteration(
    tq: &TransferQueue,
    payload: &Payload,
    partition: &str,
    verify: bool,
    cold_get: bool,
) -> Result<IterationTimes, String> {
    let batch = payload.batch().map_err(err("batch"))?;
    let start = Instant::now();
    tq.kv_batch_put(&payload.keys, partition, Some(batch), None)
        .await
        .map_err(err("kv_batch_put"))?;
    let put = start.elapsed();

    let start = Instant::now();
    let listing = tq.kv_list(Some(partition)).await.map_err(err("kv_list"))?;
    let list = start.elapsed();
    let keys: Vec<String> = listing
        .get(partition)
        .map(|rows| rows.keys().cloned().collect())
        .unwrap_or_default();
    drop(listing);
    if keys != payload.keys {
        return Err(format!(
            "kv_list returned {} keys, expected the {} put, in order",
            keys.len(),
            payload.keys.len()
        ));
    }

    let start = Instant::now();
    let got = tq
        .kv_batch_get(&keys, partition, None)
        .await
        .map_err(err("kv_batch_get"))?;
    let get = start.elapsed();
    check_get(payload, &got, verify)?;
    drop(got);

    let cold_get = if cold_get {
        let limit = buffer::output_pool_limit();
        buffer::set_output_pool_limit(0);
        let start = Instant::now();
        let got = tq.kv_batch_get(&keys, partition, None).await;
        let elapsed = start.elapsed();
        buffer::set_output_pool_limit(limit);
        let got = got.map_err(err("kv_batch_get"))?;
        check_get(payload, &got, verify)?;
        drop(got);
        Some(elapsed)
    } else {
        None
    };

    let start = Instant::now();
    let removed = tq
        .kv_clear(&keys, partition, None)
        .await
        .map_err(err("kv_clear"))?;
    let clear = start.elapsed();
    if removed != keys.len() {
        return Err(format!("kv_clear removed {removed} of {} rows", keys.len()));
    }
    Ok(IterationTimes {
        put,
        list,
        get,
        clear,
        cold_get,
    })
}

/// The times of one round of small operations.
#[derive(Debug, Clone, Copy)]
pub struct SmallOpTimes {
    /// `n` sequential single-key `kv_put`s from one task.
    pub put_seq: Duration,
    /// `n` sequential single-key `kv_batch_get`s from one task.
    pub get_seq: Duration,
    /// `n` single-key `kv_put`s spread over `tasks` concurrent tasks.
    pub put_conc: Duration,
    /// `n` single-key `kv_batch_get`s spread over `tasks` concurrent tasks.
    pub get_conc: Duration,
}

fn tiny_row(tensor: &Tensor) -> Row {
    Row::new().with("x", tensor.clone())
}

async fn puts(
    tq: &TransferQueue,
    keys: &[String],
    partition: &str,
    t: &Tensor,
) -> Result<(), String> {
    for key in keys {
        tq.kv_put(key, partition, Some(tiny_row(t)), None)
            .await
            .map_err(err("kv_put"))?;
    }
    Ok(())
}

async fn gets(tq: &TransferQueue, keys: &[String], partition: &str) -> Result<(), String> {
    for key in keys {
        let got = tq
            .kv_batch_get(std::slice::from_ref(key), partition, None)
            .await
            .map_err(err("kv_batch_get"))?;
        if got.num_rows() != 1 {
            return Err("single-key get returned no row".into());
        }
    }
    Ok(())
}

async fn concurrently<F, Fut>(
    keys: &Arc<Vec<String>>,
    tasks: usize,
    f: F,
) -> Result<Duration, String>
where
    F: Fn(Arc<Vec<String>>, std::ops::Range<usize>) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let tasks = tasks.clamp(1, keys.len().max(1));
    let chunk = keys.len().div_ceil(tasks);
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let range = (i * chunk).min(keys.len())..((i + 1) * chunk).min(keys.len());
            tokio::spawn(f(keys.clone(), range))
        })
        .collect();
    for h in handles {
        h.await.map_err(|e| format!("task failed: {e}"))??;
    }
    Ok(start.elapsed())
}

/// One round of the small-op workload: `n` single-key puts of a tiny row
/// (`tiny_len` float32s) and `n` single-key gets, first from this task, then
/// from `tasks` concurrent tasks. Building each one-field `Row` is part of
/// the timed put (it is what a caller does).
pub async fn small_ops(
    tq: &TransferQueue,
    n: usize,
    tasks: usize,
    tiny_len: usize,
    partition: &str,
) -> Result<SmallOpTimes, String> {
    let tensor = Tensor::from_vec(vec![0.5f32; tiny_len], [tiny_len]).map_err(err("tensor"))?;
    let keys: Arc<Vec<String>> = Arc::new((0..n).map(|i| format!("small_{i}")).collect());

    let start = Instant::now();
    puts(tq, &keys, partition, &tensor).await?;
    let put_seq = start.elapsed();
    let start = Instant::now();
    gets(tq, &keys, partition).await?;
    let get_seq = start.elapsed();
    tq.kv_clear(&keys, partition, None)
        .await
        .map_err(err("kv_clear"))?;

    let put_conc = concurrently(&keys, tasks, |keys, range| {
        let (tq, t, p) = (tq.clone(), tensor.clone(), partition.to_owned());
        async move { puts(&tq, &keys[range], &p, &t).await }
    })
    .await?;
    let get_conc = concurrently(&keys, tasks, |keys, range| {
        let (tq, p) = (tq.clone(), partition.to_owned());
        async move { gets(&tq, &keys[range], &p).await }
    })
    .await?;
    let removed = tq
        .kv_clear(&keys, partition, None)
        .await
        .map_err(err("kv_clear"))?;
    if removed != n {
        return Err(format!("small ops: kv_clear removed {removed} of {n} rows"));
    }
    Ok(SmallOpTimes {
        put_seq,
        get_seq,
        put_conc,
        get_conc,
    })
}

/// Puts `rows` rows of `fields` tiny float32 cells (`len` elements) in one
/// `kv_batch_put`, drops the caller's inputs, and measures how much the
/// allocator's bytes in use grew beyond the tensor bytes.
pub async fn stored_overhead(
    tq: &TransferQueue,
    backend: &str,
    rows: usize,
    fields: usize,
    len: usize,
    partition: &str,
) -> Result<OverheadFigure, String> {
    let heap0 = mem::heap_in_use().ok_or("mallinfo2 is not available here")? as i64;
    let rss0 = mem::rss().unwrap_or(0) as i64;
    {
        let keys: Vec<String> = (0..rows).map(|i| format!("tiny_{i}")).collect();
        let mut batch = Batch::new(rows);
        for f in 0..fields {
            let t =
                Tensor::from_vec(vec![1.0f32; rows * len], [rows, len]).map_err(err("tensor"))?;
            batch = batch.with_dense(format!("f{f}"), t).map_err(err("batch"))?;
        }
        tq.kv_batch_put(&keys, partition, Some(batch), None)
            .await
            .map_err(err("kv_batch_put"))?;
    }
    let heap1 = mem::heap_in_use().unwrap_or(0) as i64;
    let rss1 = mem::rss().unwrap_or(0) as i64;
    let payload = (rows * fields * len * 4) as i64;
    let keys: Vec<String> = (0..rows).map(|i| format!("tiny_{i}")).collect();
    let removed = tq
        .kv_clear(&keys, partition, None)
        .await
        .map_err(err("kv_clear"))?;
    drop(keys);
    if removed != rows {
        return Err(format!(
            "overhead: kv_clear removed {removed} of {rows} rows"
        ));
    }
    let heap2 = mem::heap_in_use().unwrap_or(0) as i64;
    let overhead = heap1 - heap0 - payload;
    Ok(OverheadFigure {
        backend: backend.to_owned(),
        rows,
        fields,
        cell_bytes: len * 4,
        payload_bytes: payload as u64,
        heap_growth: heap1 - heap0,
        overhead_bytes: overhead,
        per_cell: overhead as f64 / (rows * fields) as f64,
        rss_growth: rss1 - rss0,
        heap_after_clear: heap2 - heap0,
    })
}
