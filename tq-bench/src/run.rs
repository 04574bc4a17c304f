//! The perftest run: opens the backends, runs every workload with its
//! baselines interleaved, and collects the report.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tq_facade::{Config, TransferQueue};

use crate::baseline;
use crate::data::{Payload, Shape};
use crate::mem;
use crate::report::{Figure, MemoryFigure, Report, Target};
use crate::workload;

/// Which backend to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendSpec {
    /// The embedded in-memory backend.
    Memory,
    /// RocksDB in a temporary directory (feature `rocksdb`).
    RocksDb,
    /// Redis: `--redis-url`, or a redis-server started for the run (feature `redis`).
    Redis,
    /// Whatever a tq-facade TOML config file selects.
    ConfigFile(PathBuf),
}

impl std::str::FromStr for BackendSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "memory" => Ok(BackendSpec::Memory),
            "rocksdb" => Ok(BackendSpec::RocksDb),
            "redis" => Ok(BackendSpec::Redis),
            other => Err(format!(
                "unknown backend `{other}` (memory, rocksdb, redis; or use --config FILE)"
            )),
        }
    }
}

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
    /// Concurrent tasks of the small-op workload.
    pub tasks: usize,
    /// Float32 elements of the tiny row.
    pub tiny_len: usize,
    /// Rows of the stored-overhead probe (0: skip); memory backend only.
    pub overhead_rows: usize,
    /// Use this Redis server instead of starting one.
    pub redis_url: Option<String>,
    /// Where RocksDB stores go (a temporary directory inside it).
    pub data_dir: Option<PathBuf>,
    /// `sync_writes` of the RocksDB backend and of the raw baseline.
    pub rocksdb_sync: bool,
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
            tiny_len: 4,
            overhead_rows: 100_000,
            redis_url: None,
            data_dir: None,
            rocksdb_sync: true,
            verify: true,
            progress: true,
            settle: Duration::from_millis(1000),
        }
    }
}

/// Raw-crate baselines for a backend.
enum Raw {
    None,
    #[cfg(feature = "rocksdb")]
    RocksDb(baseline::RawRocksDb),
    #[cfg(feature = "redis")]
    Redis(baseline::RawRedis),
}

/// An opened backend with what must live as long as it (a temporary
/// directory, a redis-server).
pub struct Opened {
    /// The backend's name.
    pub name: String,
    /// The queue over it.
    pub tq: TransferQueue,
    raw: Raw,
    remote: bool,
    _guards: Vec<Box<dyn std::any::Any>>,
}

#[cfg(any(feature = "rocksdb", feature = "redis"))]
fn table(pairs: &[(&str, toml::Value)]) -> toml::Table {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Opens `spec` as [`run`] does (RocksDB in a temporary directory, Redis on
/// a server started for the purpose unless `opts.redis_url` is set), with its
/// raw baseline.
pub async fn open(spec: &BackendSpec, opts: &Options) -> Result<Opened, String> {
    let open_err = |e: tq_facade::Error| format!("cannot open the backend: {e}");
    match spec {
        BackendSpec::Memory => Ok(Opened {
            name: "memory".into(),
            tq: TransferQueue::open(Config::new("memory"))
                .await
                .map_err(open_err)?,
            raw: Raw::None,
            remote: false,
            _guards: Vec::new(),
        }),
        #[cfg(feature = "rocksdb")]
        BackendSpec::RocksDb => {
            let base = opts.data_dir.clone().unwrap_or_else(std::env::temp_dir);
            let dir = tempfile::Builder::new()
                .prefix("tq-bench-rocksdb-")
                .tempdir_in(base)
                .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
            let config = Config::new("rocksdb").with_settings(
                "rocksdb",
                table(&[
                    (
                        "path",
                        toml::Value::String(dir.path().join("tq").display().to_string()),
                    ),
                    ("sync_writes", toml::Value::Boolean(opts.rocksdb_sync)),
                ]),
            );
            let tq = TransferQueue::open(config).await.map_err(open_err)?;
            let raw = baseline::RawRocksDb::open(&dir.path().join("raw"), opts.rocksdb_sync)?;
            Ok(Opened {
                name: "rocksdb".into(),
                tq,
                raw: Raw::RocksDb(raw),
                remote: true,
                _guards: vec![Box::new(dir)],
            })
        }
        #[cfg(feature = "redis")]
        BackendSpec::Redis => {
            let mut guards: Vec<Box<dyn std::any::Any>> = Vec::new();
            let url = match &opts.redis_url {
                Some(url) => url.clone(),
                None => {
                    let server = crate::redis_server::RedisServer::start()?;
                    let url = server.url();
                    guards.push(Box::new(server));
                    url
                }
            };
            let config = Config::new("redis").with_settings(
                "redis",
                table(&[
                    ("url", toml::Value::String(url.clone())),
                    ("key_prefix", toml::Value::String("tqbench".into())),
                ]),
            );
            let tq = TransferQueue::open(config).await.map_err(open_err)?;
            let raw = baseline::RawRedis::connect(&url).await?;
            Ok(Opened {
                name: "redis".into(),
                tq,
                raw: Raw::Redis(raw),
                remote: true,
                _guards: guards,
            })
        }
        #[cfg(not(feature = "rocksdb"))]
        BackendSpec::RocksDb => {
            Err("this perftest was built without RocksDB: rebuild with --features rocksdb".into())
        }
        #[cfg(not(feature = "redis"))]
        BackendSpec::Redis => {
            Err("this perftest was built without Redis: rebuild with --features redis".into())
        }
        BackendSpec::ConfigFile(path) => {
            let config = Config::from_file(path).map_err(|e| e.to_string())?;
            let name = config.backend().to_owned();
            let (raw, guards) = raw_for_config(&config, opts).await?;
            let remote = name != "memory";
            let tq = TransferQueue::open(config).await.map_err(open_err)?;
            Ok(Opened {
                name,
                tq,
                raw,
                remote,
                _guards: guards,
            })
        }
    }
}

/// The raw baseline for a backend chosen by a config file: Redis at the
/// file's `url`, RocksDB in a temporary directory.
async fn raw_for_config(
    config: &Config,
    opts: &Options,
) -> Result<(Raw, Vec<Box<dyn std::any::Any>>), String> {
    let _ = opts;
    match config.backend() {
        #[cfg(feature = "redis")]
        "redis" => {
            let url = config
                .settings("redis")
                .and_then(|s| s.get("url"))
                .and_then(|u| u.as_str());
            match url {
                Some(url) => Ok((
                    Raw::Redis(baseline::RawRedis::connect(url).await?),
                    Vec::new(),
                )),
                None => Ok((Raw::None, Vec::new())),
            }
        }
        #[cfg(feature = "rocksdb")]
        "rocksdb" => {
            let base = opts.data_dir.clone().unwrap_or_else(std::env::temp_dir);
            let dir = tempfile::Builder::new()
                .prefix("tq-bench-raw-")
                .tempdir_in(base)
                .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
            let sync = config
                .settings("rocksdb")
                .and_then(|s| s.get("sync_writes"))
                .and_then(|v| v.as_bool())
                .unwrap_or(true);
            let raw = baseline::RawRocksDb::open(dir.path(), sync)?;
            Ok((Raw::RocksDb(raw), vec![Box::new(dir)]))
        }
        _ => Ok((Raw::None, Vec::new())),
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Samples of one workload, by figure name.
#[derive(Default)]
struct Samples(BTreeMap<&'static str, Vec<f64>>);

impl Samples {
    fn push(&mut self, name: &'static str, d: Duration) {
        self.0.entry(name).or_default().push(secs(d));
    }
    fn take(&mut self, name: &'static str) -> Vec<f64> {
        self.0.remove(name).unwrap_or_default()
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

/// Payloads at least this large are checked against the memory targets.
const TARGET_MIN_BYTES: usize = 64 << 20;
const MEMCPY: &str = "memcpy into touched buffer";
const FRESH: &str = "memcpy into fresh buffer";
const FRESH_HUGE: &str = "memcpy fresh + MADV_HUGEPAGE";
const PUT: &str = "put (kv_batch_put)";
const LIST: &str = "list (kv_list)";
const GET: &str = "get (kv_batch_get)";
const COLD_GET: &str = "get, output pool off";
const CLEAR: &str = "delete (kv_clear)";
const RAW_PUT: &str = "raw put";
const RAW_GET: &str = "raw get";
const RAW_CLEAR: &str = "raw delete";

/// One iteration's baselines; the raw crate's, if any.
async fn baselines(raw: &mut Raw, payload: &Payload, samples: &mut Samples) -> Result<(), String> {
    let slices = payload.field_slices();
    samples.push(MEMCPY, baseline::memcpy_touched(&slices));
    samples.push(FRESH, baseline::memcpy_fresh(&slices, false));
    samples.push(FRESH_HUGE, baseline::memcpy_fresh(&slices, true));
    match raw {
        Raw::None => {}
        #[cfg(feature = "rocksdb")]
        Raw::RocksDb(db) => {
            samples.push(RAW_PUT, db.put(payload)?);
            samples.push(RAW_GET, db.get(payload)?);
            samples.push(RAW_CLEAR, db.clear(payload)?);
        }
        #[cfg(feature = "redis")]
        Raw::Redis(r) => {
            samples.push(RAW_PUT, r.put(payload).await?);
            samples.push(RAW_GET, r.get(payload).await?);
            samples.push(RAW_CLEAR, r.clear(payload).await?);
        }
    }
    Ok(())
}

fn raw_label(raw: &Raw) -> Option<&'static str> {
    match raw {
        Raw::None => None,
        #[cfg(feature = "rocksdb")]
        Raw::RocksDb(_) => Some("rocksdb crate"),
        #[cfg(feature = "redis")]
        Raw::Redis(_) => Some("redis crate"),
    }
}

async fn settle(b: &Opened, opts: &Options) {
    if b.remote && !opts.settle.is_zero() {
        tokio::time::sleep(opts.settle).await;
    }
}

/// The large-batch workload on one backend and shape.
async fn batch_workload(
    b: &mut Opened,
    payload: &Payload,
    opts: &Options,
    bar: &ProgressBar,
    report: &mut Report,
) -> Result<(), String> {
    let label = payload.shape.label();
    let bytes = payload.bytes();
    let mut samples = Samples::default();
    let mut peak = 0u64;
    let mut rss_before = 0u64;
    let mut growth = 0i64;
    for i in 0..opts.warmup + opts.iterations {
        bar.set_message(format!(
            "{} {label}: {} {}",
            b.name,
            if i < opts.warmup {
                "warm-up"
            } else {
                "iteration"
            },
            i + 1
        ));
        let mut s = Samples::default();
        // Remote backends alternate which side goes first, so neither is
        // always timed while the other's background work runs.
        let raw_first = !b.remote || i % 2 == 0;
        if raw_first {
            baselines(&mut b.raw, payload, &mut s).await?;
            settle(b, opts).await;
        }
        let reset = mem::reset_peak_rss();
        let before = mem::rss().unwrap_or(0);
        let t = workload::iteration(&b.tq, payload, "train_0", opts.verify, !b.remote).await?;
        let p = mem::peak_rss().unwrap_or(0);
        if !raw_first {
            settle(b, opts).await;
            baselines(&mut b.raw, payload, &mut s).await?;
        }
        if i >= opts.warmup {
            if reset {
                peak = peak.max(p);
                rss_before = rss_before.max(before);
                growth = growth.max(p as i64 - before as i64);
            }
            for (name, v) in std::mem::take(&mut s.0) {
                samples.0.entry(name).or_default().extend(v);
            }
            samples.push(PUT, t.put);
            samples.push(LIST, t.list);
            samples.push(GET, t.get);
            samples.push(CLEAR, t.clear);
            if let Some(cold) = t.cold_get {
                samples.push(COLD_GET, cold);
            }
        }
        bar.inc(1);
    }
    let (backend, n) = (b.name.as_str(), payload.shape.batch);
    let fig = |name: &'static str, samples: &mut Samples| {
        Figure::new(backend, &label, name, samples.take(name))
    };
    let memcpy = fig(MEMCPY, &mut samples).bytes(bytes);
    let fresh = fig(FRESH, &mut samples).bytes(bytes).against(&memcpy);
    let fresh_huge = fig(FRESH_HUGE, &mut samples).bytes(bytes).against(&memcpy);
    let mut put = fig(PUT, &mut samples).bytes(bytes);
    let mut get = fig(GET, &mut samples).bytes(bytes);
    let mut clear = fig(CLEAR, &mut samples).ops(n);
    let list = fig(LIST, &mut samples).ops(n);
    let mut out = vec![memcpy.clone(), fresh.clone(), fresh_huge.clone()];
    if let Some(raw_name) = raw_label(&b.raw) {
        let name = |op: &str| format!("{raw_name} {op}");
        let mut raw_put = fig(RAW_PUT, &mut samples).bytes(bytes);
        raw_put.name = name("write");
        let mut raw_get = fig(RAW_GET, &mut samples).bytes(bytes);
        raw_get.name = name("read");
        let mut raw_clear = fig(RAW_CLEAR, &mut samples).ops(n);
        raw_clear.name = name("delete");
        // Throughput >= 0.8x the raw crate's is a time ratio <= 1.25;
        // checked on large payloads, where bytes dominate fixed per-row costs.
        put = put.against(&raw_put);
        get = get.against(&raw_get);
        if bytes >= TARGET_MIN_BYTES {
            put = put.target(Target::MaxRatio(1.25));
            get = get.target(Target::MaxRatio(1.25));
        }
        clear = clear.against(&raw_clear);
        out.extend([raw_put, raw_get, raw_clear]);
        out.extend([put, list, get.clone(), clear]);
    } else {
        // The memory targets are about moving large payloads; below this
        // size fixed per-call and per-cell costs dominate and no target is set.
        let large = bytes >= TARGET_MIN_BYTES;
        let dense = !payload.shape.jagged;
        put = put.against(&memcpy);
        let get_vs_memcpy = get.clone().against(&memcpy);
        if !b.remote && dense && large {
            put = put.target(Target::MaxRatio(0.2));
        }
        let get_touched = if !b.remote && dense && large {
            get_vs_memcpy.target(Target::MaxRatio(1.5))
        } else {
            get_vs_memcpy
        };
        let mut get_fresh = get.clone().against(&fresh_huge);
        get_fresh.name = format!("{GET} vs fresh+huge");
        out.extend([put, list, get_touched, get_fresh]);
        let cold = fig(COLD_GET, &mut samples).bytes(bytes);
        if !cold.seconds.is_empty() {
            let mut cold_fresh = cold.clone().against(&fresh_huge);
            cold_fresh.name = format!("{COLD_GET} vs fresh+huge");
            out.extend([cold.against(&memcpy), cold_fresh]);
        }
        out.push(clear);
    }
    report.figures.extend(out);
    if peak > 0 {
        let over = peak as f64 / bytes as f64;
        let target = (b.name == "memory"
            && payload.shape
                == (Shape {
                    batch: 1024,
                    fields: 9,
                    seq_len: 8192,
                    jagged: false,
                }))
        .then_some(2.5);
        report.memory.push(MemoryFigure {
            backend: b.name.clone(),
            workload: label,
            payload_bytes: bytes as u64,
            rss_before,
            peak_rss: peak,
            peak_growth: growth,
            peak_over_payload: over,
            target,
            met: target.map(|t| over <= t),
        });
    } else {
        report
            .notes
            .push("peak RSS not measured: /proc/self/clear_refs is not writable here".into());
    }
    Ok(())
}

async fn small_op_workload(
    b: &Opened,
    opts: &Options,
    bar: &ProgressBar,
    report: &mut Report,
) -> Result<(), String> {
    let n = if b.remote {
        opts.small_ops_remote
    } else {
        opts.small_ops
    };
    let mut samples = Samples::default();
    for i in 0..opts.warmup + opts.iterations {
        bar.set_message(format!("{} small ops: round {}", b.name, i + 1));
        let t = workload::small_ops(&b.tq, n, opts.tasks, opts.tiny_len, "small").await?;
        if i >= opts.warmup {
            samples.push("put1", t.put_seq);
            samples.push("get1", t.get_seq);
            samples.push("putN", t.put_conc);
            samples.push("getN", t.get_conc);
        }
        bar.inc(1);
    }
    let label = format!("{n} single-key ops, row of {} x f32", opts.tiny_len);
    let fig = |name: &str, key: &'static str, samples: &mut Samples| {
        Figure::new(&b.name, &label, name, samples.take(key)).ops(n)
    };
    let mut put1 = fig("kv_put, 1 task", "put1", &mut samples);
    if !b.remote {
        put1 = put1.target(Target::MinRate(200_000.0));
    }
    let get1 = fig("kv_batch_get of 1 key, 1 task", "get1", &mut samples);
    let put_n = fig(
        &format!("kv_put, {} tasks", opts.tasks),
        "putN",
        &mut samples,
    );
    let get_n = fig(
        &format!("kv_batch_get of 1 key, {} tasks", opts.tasks),
        "getN",
        &mut samples,
    );
    report.figures.extend([put1, get1, put_n, get_n]);
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
    let small = opened
        .iter()
        .filter(|b| {
            (if b.remote {
                opts.small_ops_remote
            } else {
                opts.small_ops
            }) > 0
        })
        .count() as u64;
    let overhead = if opts.overhead_rows > 0 {
        opened.iter().filter(|b| b.name == "memory").count() as u64 * 2
    } else {
        0
    };
    let total = rounds * (opts.shapes.len() * opened.len()) as u64 + rounds * small + overhead;
    let bar = progress_bar(opts, total);

    for shape in &opts.shapes {
        bar.set_message(format!("generating {}", shape.label()));
        let payload = Payload::generate(*shape, 0x5eed).map_err(|e| e.to_string())?;
        for b in opened.iter_mut() {
            batch_workload(b, &payload, opts, &bar, &mut report).await?;
        }
    }
    for b in &opened {
        let n = if b.remote {
            opts.small_ops_remote
        } else {
            opts.small_ops
        };
        if n > 0 {
            small_op_workload(b, opts, &bar, &mut report).await?;
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
