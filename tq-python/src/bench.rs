//! The Rust baseline of `bench/bench.py`: the same workload through the
//! facade, in the same process, build and backend as the Python calls it is
//! compared with.

use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tq_facade::{Batch, Row, Tensor, TransferQueue};

use crate::config::config_of;
use crate::errors::to_py_err;
use crate::runtime::block_on;

struct Figures {
    put: Vec<Duration>,
    get: Vec<Duration>,
    small_put: Duration,
}

async fn workload(
    tq: TransferQueue,
    rows: usize,
    fields: usize,
    width: usize,
    iterations: usize,
    small_ops: usize,
) -> tq_facade::Result<Figures> {
    // At most 4 GiB of f32 per field: the baseline allocates its inputs.
    let cells = rows
        .checked_mul(width)
        .filter(|&n| n <= 1 << 30)
        .ok_or_else(|| tq_facade::Error::invalid_argument("rows x width must be at most 2^30"))?;
    let keys: Vec<String> = (0..rows).map(|i| format!("test_key_{i}")).collect();
    let mut batch = Batch::new(rows);
    for f in 0..fields {
        let values: Vec<f32> = (0..cells).map(|i| (i % 1000) as f32).collect();
        batch.insert(
            format!("field_{f}"),
            tq_facade::Column::dense(Tensor::from_vec(values, [rows, width])?)?,
        )?;
    }
    let mut figures = Figures {
        put: Vec::new(),
        get: Vec::new(),
        small_put: Duration::ZERO,
    };
    for _ in 0..iterations {
        let start = Instant::now();
        tq.kv_batch_put(&keys[..], "train_0", Some(batch.clone()), None)
            .await?;
        figures.put.push(start.elapsed());
        let start = Instant::now();
        let got = tq.kv_batch_get(&keys[..], "train_0", None).await?;
        figures.get.push(start.elapsed());
        drop(got);
        tq.kv_clear(&keys[..], "train_0", None).await?;
    }
    let tiny = Tensor::from_vec(vec![0.5f32; 4], [4])?;
    let small_keys: Vec<String> = (0..small_ops).map(|i| format!("small_{i}")).collect();
    let start = Instant::now();
    for key in &small_keys {
        tq.kv_put(key, "small", Some(Row::new().with("x", tiny.clone())), None)
            .await?;
    }
    figures.small_put = start.elapsed();
    tq.kv_clear(&small_keys[..], "small", None).await?;
    Ok(figures)
}

/// Runs the bench workload in Rust on a fresh queue opened from `config`:
/// `iterations` x (kv_batch_put of `rows` keys x `fields` float32 fields of
/// `width`, kv_batch_get of all, kv_clear), then `small_ops` single-row
/// kv_puts of a 4 x float32 row. Returns seconds: `put` and `get` (one
/// entry per iteration) and `small_put` (all small puts).
#[pyfunction]
#[pyo3(signature = (config=None, rows=1024, fields=9, width=8192, iterations=5, small_ops=100_000))]
pub(crate) fn rust_baseline<'py>(
    py: Python<'py>,
    config: Option<&Bound<'py, PyAny>>,
    rows: usize,
    fields: usize,
    width: usize,
    iterations: usize,
    small_ops: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let config = config_of(config).map_err(to_py_err)?;
    let figures = block_on(py, "rust_baseline", async move {
        let tq = TransferQueue::open(config).await?;
        workload(tq, rows, fields, width, iterations, small_ops).await
    })?;
    let secs = |v: &[Duration]| v.iter().map(Duration::as_secs_f64).collect::<Vec<_>>();
    let out = PyDict::new(py);
    out.set_item("put", secs(&figures.put))?;
    out.set_item("get", secs(&figures.get))?;
    out.set_item("small_put", figures.small_put.as_secs_f64())?;
    Ok(out)
}
