//! The perftest run: opens the backends, runs every workload with its
//! baselines interleaved, and collects the report.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::batch::batch_workload;
use crate::checkpoint::checkpoint_workload;
use crate::churn;
use crate::data::{Payload, Shape};
pub use crate::open::{BackendSpec, Opened, open};
use crate::report::Report;
use crate::small::small_op_workload;
use crate::workload;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Backends, measured in this order.
    pub backends: Vec<BackendSpec>,
    /// Workload shapes.
    pub shapes: Vec<Shape>,
    /// Timed iterations per workload.
    pub iterations: usize,
    /// Untimed iterations before them.
    pub warmup: usize,
    /// Single-key operations per small-op round for the memory backend (0: skip).
    pub small_ops: usize,
    /// The same for the RocksDB and Redis backends (each put may be an fsync
    /// or a round trip).
    pub small_ops_remote: usize,
    /// Concurrent tasks of the memory backend's small-op workload.
    pub tasks: usize,
    /// Concurrent tasks of the RocksDB and Redis small-op workload (Redis:
    /// compared with `redis-benchmark -c <tasks>`).
    pub tasks_remote: usize,
    /// Float32 elements of the tiny row.
    pub tiny_len: usize,
    /// Rows of the stored-overhead probe (0: skip); memory backend only.
    pub overhead_rows: usize,
    /// kv_list after this many put + clear cycles, on a fresh store of each
    /// backend (0: skip).
    pub list_churn: usize,
    /// Rounds of the wake-up case (kv_put -> kv_wait returning) per
    /// backend (0: skip).
    pub wake_ups: usize,
    /// Use this Redis server instead of starting one.
    pub redis_url: Option<String>,
    /// Redis: run the memory probe (put + get with server and client
    /// memory) in a process of its own, this perftest executable started
    /// with `--memory-probe-child`; `None` measures in this process.
    pub probe_exe: Option<PathBuf>,
    /// Seconds each redis-benchmark invocation (SET + GET) aims at.
    pub engine_secs: f64,
    /// Requests per redis-benchmark test instead of sizing them by time.
    pub engine_requests: Option<usize>,
    /// Where RocksDB stores go (a temporary directory inside it).
    pub data_dir: Option<PathBuf>,
    /// `sync_writes` of the RocksDB backend and of the raw baseline.
    pub rocksdb_sync: bool,
    /// The checkpoint case (save to `file://`, load into a fresh memory
    /// store, against std::fs) on the memory backend, per shape.
    pub checkpoint: bool,
    /// Peak RSS of saving and loading a memory store of at least this many
    /// bytes (the first shape's payload in as many partitions); 0 skips.
    pub checkpoint_memory_bytes: u64,
    /// Compare every byte a get returns (outside the timer).
    pub verify: bool,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// For RocksDB and Redis: a pause between the raw baseline and the
    /// backend's operations, so that one's background work (flushes,
    /// compactions, freeing) settles before the other is timed.
    pub settle: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            backends: vec![BackendSpec::Memory],
            shapes: vec![Shape {
                batch: 1024,
                fields: 9,
                seq_len: 8192,
                jagged: false,
            }],
            iterations: 5,
            warmup: 1,
            small_ops: 100_000,
            small_ops_remote: 2_000,
            tasks: 64,
            tasks_remote: 16,
            tiny_len: 4,
            overhead_rows: 100_000,
            list_churn: 0,
            wake_ups: 1000,
            redis_url: None,
            probe_exe: None,
            engine_secs: 2.0,
            engine_requests: None,
            data_dir: None,
            rocksdb_sync: true,
            checkpoint: true,
            checkpoint_memory_bytes: 0,
            verify: true,
            progress: true,
            settle: Duration::from_millis(1000),
        }
    }
}

/// Samples of one workload, by figure name.
#[derive(Default)]
pub(crate) struct Samples(BTreeMap<String, Vec<f64>>);

impl Samples {
    pub(crate) fn push(&mut self, name: &str, d: Duration) {
        self.0
            .entry(name.to_owned())
            .or_default()
            .push(d.as_secs_f64());
    }
    pub(crate) fn take(&mut self, name: &str) -> Vec<f64> {
        self.0.remove(name).unwrap_or_default()
    }
    /// Appends every sample of `other`.
    pub(crate) fn extend(&mut self, other: Samples) {
        for (name, v) in other.0 {
            self.0.entry(name).or_default().extend(v);
        }
    }
}

fn progress_bar(opts: &Options, total: u64) -> ProgressBar {
    if !opts.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The pause between a remote backend's raw baseline and its operations.
pub(crate) async fn settle(b: &Opened, opts: &Options) {
    if b.remote && !opts.settle.is_zero() {
        tokio::time::sleep(opts.settle).await;
    }
}

fn small_ops_for(b: &Opened, opts: &Options) -> usize {
    if b.remote {
        opts.small_ops_remote
    } else {
        opts.small_ops
    }
}

/// kv_list after churn on a fresh store of the same kind as `b`.
async fn churn_case(b: &Opened, opts: &Options, report: &mut Report) -> Result<(), String> {
    let fresh = crate::open::open_fresh(b, opts).await?;
    let t = churn::run(&fresh.tq, opts.list_churn, opts.tiny_len).await?;
    report
        .figures
        .extend(churn::figures(&b.name, opts.list_churn, &t));
    Ok(())
}

/// Runs everything `opts` asks for. Call it inside a multi-thread Tokio runtime.
pub async fn run(opts: &Options) -> Result<Report, String> {
    let mut report = Report::default();
    let mut opened = Vec::new();
    for spec in &opts.backends {
        opened.push(open(spec, opts).await?);
    }
    let rounds = (opts.warmup + opts.iterations) as u64;
    let small = opened.iter().filter(|b| small_ops_for(b, opts) > 0).count() as u64;
    let overhead = if opts.overhead_rows > 0 {
        opened.iter().filter(|b| b.name == "memory").count() as u64 * 2
    } else {
        0
    };
    let churns = if opts.list_churn > 0 {
        opened.len() as u64
    } else {
        0
    };
    let wakes = if opts.wake_ups > 0 {
        opened.len() as u64
    } else {
        0
    };
    let checkpoints = if opts.checkpoint {
        rounds * (opts.shapes.len() * opened.iter().filter(|b| b.name == "memory").count()) as u64
    } else {
        0
    };
    let ckpt_memory = u64::from(opts.checkpoint_memory_bytes > 0);
    let total = rounds * (opts.shapes.len() * opened.len()) as u64
        + checkpoints
        + ckpt_memory
        + rounds * small
        + overhead
        + churns
        + wakes;
    let bar = progress_bar(opts, total);

    for shape in &opts.shapes {
        bar.set_message(format!("generating {}", shape.label()));
        let payload = Payload::generate(*shape, 0x5eed).map_err(|e| e.to_string())?;
        for b in opened.iter_mut() {
            batch_workload(b, &payload, opts, &bar, &mut report).await?;
            if opts.checkpoint && b.name == "memory" {
                checkpoint_workload(b, &payload, opts, &bar, &mut report).await?;
            }
        }
        if opts.checkpoint_memory_bytes > 0 && report.checkpoint_memory.is_empty() {
            bar.set_message(format!(
                "checkpoint memory: {} of {}",
                crate::report::fmt_bytes(opts.checkpoint_memory_bytes as f64),
                shape.label()
            ));
            report
                .checkpoint_memory
                .push(crate::checkpoint_mem::run(&payload, opts).await?);
            bar.inc(1);
        }
    }
    for b in &opened {
        if small_ops_for(b, opts) > 0 {
            small_op_workload(b, opts, &bar, &mut report).await?;
        }
    }
    if opts.list_churn > 0 {
        for b in &opened {
            bar.set_message(format!(
                "{}: kv_list after {} put+clear cycles",
                b.name, opts.list_churn
            ));
            churn_case(b, opts, &mut report).await?;
            bar.inc(1);
        }
    }
    if opts.wake_ups > 0 {
        for b in &opened {
            bar.set_message(format!("{}: {} wake-ups", b.name, opts.wake_ups));
            report.wake.push(crate::wake::wake_case(b, opts).await?);
            bar.inc(1);
        }
    }
    if opts.overhead_rows > 0 {
        for b in opened.iter().filter(|b| b.name == "memory") {
            for fields in [1, 4] {
                bar.set_message(format!("{} stored overhead, {fields} field(s)", b.name));
                let o = workload::stored_overhead(
                    &b.tq,
                    &b.name,
                    opts.overhead_rows,
                    fields,
                    opts.tiny_len,
                    "overhead",
                )
                .await?;
                report.overhead.push(o);
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();
    report.notes.push(format!(
        "tq-core's get output pool holds {} at the end (limit {}); gets of 8 MiB+ columns reuse it",
        crate::report::fmt_bytes(tq_facade::core::buffer::output_pool_bytes() as f64),
        crate::report::fmt_bytes(tq_facade::core::buffer::output_pool_limit() as f64)
    ));
    Ok(report)
}
