//! The large-batch workload (PUT -> LIST -> GET -> DELETE) on one backend
//! and shape, with its baselines interleaved: memcpy, the raw crate, and for
//! Redis the engine itself (redis-benchmark at the workload's cell size).

use indicatif::ProgressBar;

use crate::baseline;
use crate::data::{Payload, Shape};
#[cfg(feature = "redis")]
use crate::engine_run::{self, EngineRun};
use crate::mem;
use crate::open::{Opened, Raw};
use crate::report::{Figure, MemoryFigure, Report, Target};
use crate::run::{Options, Samples, settle};
use crate::workload;

/// Payloads at least this large are checked against the targets.
pub(crate) const TARGET_MIN_BYTES: usize = 64 << 20;
/// Throughput at least 0.7x the engine's: a time ratio of at most 1/0.7.
#[cfg(feature = "redis")]
pub(crate) const ENGINE_MAX_RATIO: f64 = 1.0 / 0.7;
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
/// The engine's best of its loads in each iteration.
#[cfg(feature = "redis")]
pub(crate) const ENGINE_SET: &str = "redis engine set";
#[cfg(feature = "redis")]
pub(crate) const ENGINE_GET: &str = "redis engine get";
/// The engine's best, storing as many new values as the put.
#[cfg(feature = "redis")]
pub(crate) const ENGINE_NEW_SET: &str = "redis engine set, new keys";

/// The engine loads of a workload (none without Redis).
#[cfg(feature = "redis")]
type Engine = Vec<EngineRun>;
#[cfg(not(feature = "redis"))]
type Engine = Vec<()>;

/// Redis: redis-benchmark at the workload's mean cell size, `-P 16` with
/// `-c 1` and with `-c 4` (per master, all masters at once on a cluster).
#[cfg(feature = "redis")]
async fn engine_for(b: &Opened, payload: &Payload, opts: &Options) -> Result<Engine, String> {
    let Some(target) = &b.redis else {
        return Ok(Vec::new());
    };
    let cells = payload.cells().count().max(1);
    let cell = (payload.bytes() / cells).max(1);
    let mut runs = Vec::new();
    for clients in [1, 4] {
        runs.push(
            EngineRun::calibrated(
                target,
                None,
                clients,
                16,
                cell,
                (opts.engine_secs, opts.engine_requests),
            )
            .await?,
        );
    }
    Ok(runs)
}

#[cfg(not(feature = "redis"))]
async fn engine_for(_: &Opened, _: &Payload, _: &Options) -> Result<Engine, String> {
    Ok(Vec::new())
}

/// One iteration's baselines: memcpy, the raw crate's, the engine's.
async fn baselines(
    b: &mut Opened,
    engine: &Engine,
    payload: &Payload,
    samples: &mut Samples,
) -> Result<(), String> {
    let slices = payload.field_slices();
    samples.push(MEMCPY, baseline::memcpy_touched(&slices));
    samples.push(FRESH, baseline::memcpy_fresh(&slices, false));
    samples.push(FRESH_HUGE, baseline::memcpy_fresh(&slices, true));
    match &mut b.raw {
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
    #[cfg(feature = "redis")]
    if let Some(target) = &b.redis {
        let cells = payload.cells().count();
        for run in engine {
            let (set, get) = run.sample(target, cells).await?;
            samples.push(&run.set_name, set);
            samples.push(&run.get_name, get);
            samples.push(&run.new_set_name, run.sample_new_sets(target, cells).await?);
        }
    }
    #[cfg(not(feature = "redis"))]
    let _ = engine;
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

/// The engine's rows (each load, then the best of them) and the put and
/// get figures against the best (the targets), then the put against the
/// engine storing new keys (for context: the stock test overwrites a small
/// keyspace); `None` without an engine baseline.
#[cfg(feature = "redis")]
fn engine_figures(
    engine: &Engine,
    samples: &mut Samples,
    fig: impl Fn(&str, &mut Samples) -> Figure,
    put: &Figure,
    get: &Figure,
    large: bool,
) -> Option<(Vec<Figure>, [Figure; 3])> {
    if engine.is_empty() {
        return None;
    }
    let bytes = put.bytes.unwrap_or(0) as usize;
    let sets: Vec<Figure> = engine
        .iter()
        .map(|r| fig(&r.set_name, samples).bytes(bytes))
        .collect();
    let gets: Vec<Figure> = engine
        .iter()
        .map(|r| fig(&r.get_name, samples).bytes(bytes))
        .collect();
    let best_set = engine_run::best_of(ENGINE_SET, &sets.iter().collect::<Vec<_>>())?;
    let best_get = engine_run::best_of(ENGINE_GET, &gets.iter().collect::<Vec<_>>())?;
    let new_sets: Vec<Figure> = engine
        .iter()
        .map(|r| fig(&r.new_set_name, samples).bytes(bytes))
        .collect();
    let best_new = engine_run::best_of(ENGINE_NEW_SET, &new_sets.iter().collect::<Vec<_>>())?;
    let mut put_new = put.clone().against(&best_new);
    put_new.name = format!("{PUT} vs {ENGINE_NEW_SET}");
    let mut put = put.clone().against(&best_set);
    let mut get = get.clone().against(&best_get);
    if large {
        put = put.target(Target::MaxRatio(ENGINE_MAX_RATIO));
        get = get.target(Target::MaxRatio(ENGINE_MAX_RATIO));
    }
    let mut rows = sets;
    rows.extend(gets);
    rows.extend(new_sets);
    rows.extend([best_set, best_get, best_new]);
    Some((rows, [put, put_new, get]))
}

/// The large-batch workload on one backend and shape.
pub(crate) async fn batch_workload(
    b: &mut Opened,
    payload: &Payload,
    opts: &Options,
    bar: &ProgressBar,
    report: &mut Report,
) -> Result<(), String> {
    let label = payload.shape.label();
    let bytes = payload.bytes();
    bar.set_message(format!("{} {label}: sizing the engine baseline", b.name));
    let engine = engine_for(b, payload, opts).await?;
    #[cfg(feature = "redis")]
    for run in &engine {
        report.notes.push(format!(
            "{} {label}: redis-benchmark {}",
            b.name,
            run.describe()
        ));
    }
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
            baselines(b, &engine, payload, &mut s).await?;
            settle(b, opts).await;
        }
        let reset = mem::reset_peak_rss();
        let before = mem::rss().unwrap_or(0);
        let t = workload::iteration(&b.tq, payload, "train_0", opts.verify, !b.remote).await?;
        let p = mem::peak_rss().unwrap_or(0);
        if !raw_first {
            settle(b, opts).await;
            baselines(b, &engine, payload, &mut s).await?;
        }
        if i >= opts.warmup {
            if reset {
                peak = peak.max(p);
                rss_before = rss_before.max(before);
                growth = growth.max(p as i64 - before as i64);
            }
            samples.extend(s);
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
    let fig =
        |name: &str, samples: &mut Samples| Figure::new(backend, &label, name, samples.take(name));
    let large = bytes >= TARGET_MIN_BYTES;
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
        clear = clear.against(&raw_clear);
        // Throughput >= 0.8x the raw crate's is a time ratio <= 1.25;
        // checked on large payloads, where bytes dominate fixed per-row costs.
        let vs_raw = |f: Figure, base: &Figure, name: String| {
            let mut f = f.against(base);
            f.name = name;
            if large {
                f.target(Target::MaxRatio(1.25))
            } else {
                f
            }
        };
        #[cfg(feature = "redis")]
        let with_engine = engine_figures(&engine, &mut samples, fig, &put, &get, large);
        #[cfg(not(feature = "redis"))]
        let with_engine: Option<(Vec<Figure>, [Figure; 3])> = None;
        match with_engine {
            Some((rows, [put_e, put_new, get_e])) => {
                let put_raw = vs_raw(put, &raw_put, format!("{PUT} vs {raw_name}"));
                let get_raw = vs_raw(get, &raw_get, format!("{GET} vs {raw_name}"));
                out.extend(rows);
                out.extend([raw_put, raw_get, raw_clear]);
                out.extend([put_e, put_new, put_raw, list, get_e, get_raw, clear]);
            }
            None => {
                put = vs_raw(put, &raw_put, PUT.into());
                get = vs_raw(get, &raw_get, GET.into());
                out.extend([raw_put, raw_get, raw_clear]);
                out.extend([put, list, get, clear]);
            }
        }
    } else {
        // The memory targets are about moving large payloads; below this
        // size fixed per-call and per-cell costs dominate and no target is set.
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
    record_peak(b, payload, (rss_before, peak, growth), report);
    #[cfg(feature = "redis")]
    if let Some(target) = &b.redis {
        bar.set_message(format!("{} {label}: memory probe", b.name));
        let m = match &opts.probe_exe {
            Some(exe) => {
                let req = crate::memory_child::ChildRequest {
                    backend: b.name.clone(),
                    urls: target.nodes.iter().map(|n| n.url.clone()).collect(),
                    cluster: target.cluster,
                    shape: payload.shape,
                    prefix: format!("tqbench-probe-{}", std::process::id()),
                };
                let mut m = crate::memory_child::run_child(exe, &req).await?;
                if let Raw::Redis(r) = &mut b.raw {
                    let raw = crate::memory_probe::raw_delta(r, target, payload).await?;
                    m.raw_set_delta_over_payload = Some(raw);
                }
                m
            }
            None => {
                let raw = match &mut b.raw {
                    Raw::Redis(r) => Some(r),
                    _ => None,
                };
                crate::memory_probe::probe(&b.name, &b.tq, raw, target, payload, "train_0").await?
            }
        };
        report.server_memory.push(m);
    }
    Ok(())
}

/// Records the iterations' peak RSS (or a note that it was not measured).
fn record_peak(
    b: &Opened,
    payload: &Payload,
    (before, peak, growth): (u64, u64, i64),
    report: &mut Report,
) {
    if peak == 0 {
        report
            .notes
            .push("peak RSS not measured: /proc/self/clear_refs is not writable here".into());
        return;
    }
    let bytes = payload.bytes();
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
        workload: payload.shape.label(),
        payload_bytes: bytes as u64,
        rss_before: before,
        peak_rss: peak,
        peak_growth: growth,
        peak_over_payload: over,
        target,
        met: target.map(|t| over <= t),
    });
}
