//! Bounded memory, measured (issue 12): peak RSS while a memory store of at
//! least `--checkpoint-memory-gb` is saved to `file://` and loaded back
//! into a fresh memory store. The store is the payload's shape put into as
//! many partitions as it takes, each from data of its own (a put shares
//! the caller's tensor bytes, so one payload put N times would be stored
//! once).
//!
//! "Steady" is what the process holds without a save or load running: the
//! store itself (and the caller's payload). For the save that is the RSS
//! before it; for the load, the RSS after it (the loaded store), the
//! source store dropped first. Peaks are VmHWM, reset through
//! `/proc/self/clear_refs` before each; RSS is read after `malloc_trim`, so
//! it counts live data rather than freed memory the allocator kept.

use std::time::Instant;

use serde::Serialize;
use tq_checkpoint::{LoadOptions, SaveOptions};

use crate::checkpoint::{fresh_memory, location_in, temp_dir};
use crate::data::Payload;
use crate::mem;
use crate::report::fmt_bytes;
use crate::run::Options;

/// The bound on peak minus steady RSS.
pub const LIMIT_BYTES: u64 = 512 << 20;

/// The figures of one save and load.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointMemory {
    /// Shape and partition count.
    pub workload: String,
    /// Tensor bytes in the store.
    pub store_bytes: u64,
    /// Bytes of the checkpoint's data objects.
    pub checkpoint_bytes: u64,
    /// Seconds of the save.
    pub save_s: f64,
    /// RSS before the save (store and payload held).
    pub save_steady_rss: u64,
    /// Peak RSS during the save.
    pub save_peak_rss: u64,
    /// `save_peak_rss - save_steady_rss`.
    pub save_above_steady: i64,
    /// Seconds of the load.
    pub load_s: f64,
    /// RSS before the load (source store dropped).
    pub load_rss_before: u64,
    /// RSS after the load: the loaded store held.
    pub load_steady_rss: u64,
    /// Peak RSS during the load.
    pub load_peak_rss: u64,
    /// `load_peak_rss - load_steady_rss`.
    pub load_above_steady: i64,
    /// [`LIMIT_BYTES`].
    pub limit_bytes: u64,
    /// Both figures above steady within the limit.
    pub met: bool,
}

fn err<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> String + '_ {
    move |e| format!("checkpoint memory case: {what}: {e}")
}

fn rss_trimmed() -> u64 {
    mem::trim();
    mem::rss().unwrap_or(0)
}

/// Runs the case: `payload` put into enough partitions to hold at least
/// `opts.checkpoint_memory_bytes`.
pub async fn run(payload: &Payload, opts: &Options) -> Result<CheckpointMemory, String> {
    let per = payload.bytes().max(1) as u64;
    let partitions = opts.checkpoint_memory_bytes.div_ceil(per).max(1);
    let source = fresh_memory();
    for k in 0..partitions {
        let own = Payload::generate(payload.shape, 0x5eed + k).map_err(err("payload"))?;
        let batch = own.batch().map_err(err("batch"))?;
        drop(own);
        source
            .kv_batch_put(&payload.keys, &format!("ckpt_mem_{k}"), Some(batch), None)
            .await
            .map_err(err("kv_batch_put"))?;
    }
    let dir = temp_dir(opts)?;
    let location = location_in(dir.path())?;

    let save_steady = rss_trimmed();
    if !mem::reset_peak_rss() {
        return Err("peak RSS cannot be reset: /proc/self/clear_refs is not writable".into());
    }
    let start = Instant::now();
    let manifest = tq_checkpoint::save_with(source.store(), &location, &SaveOptions::default())
        .await
        .map_err(err("save"))?;
    let save_s = start.elapsed().as_secs_f64();
    let save_peak = mem::peak_rss().unwrap_or(0);
    drop(source);

    let load_before = rss_trimmed();
    mem::reset_peak_rss();
    let target = fresh_memory();
    let start = Instant::now();
    tq_checkpoint::load(target.store(), &location, &LoadOptions::default())
        .await
        .map_err(err("load"))?;
    let load_s = start.elapsed().as_secs_f64();
    let load_peak = mem::peak_rss().unwrap_or(0);
    let load_steady = rss_trimmed();
    let listed = target.kv_list(None).await.map_err(err("kv_list"))?;
    let rows: usize = listed.values().map(|keys| keys.len()).sum();
    if rows as u64 != partitions * payload.shape.batch as u64 {
        return Err(format!("checkpoint memory case: loaded {rows} rows"));
    }
    drop((listed, target));
    mem::trim();

    let save_above = save_peak as i64 - save_steady as i64;
    let load_above = load_peak as i64 - load_steady as i64;
    Ok(CheckpointMemory {
        workload: format!("{} x {partitions} partitions", payload.shape.label()),
        store_bytes: per * partitions,
        checkpoint_bytes: manifest
            .partitions
            .iter()
            .flat_map(|p| &p.objects)
            .map(|o| o.bytes)
            .sum(),
        save_s,
        save_steady_rss: save_steady,
        save_peak_rss: save_peak,
        save_above_steady: save_above,
        load_s,
        load_rss_before: load_before,
        load_steady_rss: load_steady,
        load_peak_rss: load_peak,
        load_above_steady: load_above,
        limit_bytes: LIMIT_BYTES,
        met: save_above <= LIMIT_BYTES as i64 && load_above <= LIMIT_BYTES as i64,
    })
}

/// The table rows.
pub fn table(figures: &[CheckpointMemory]) -> String {
    let mut out = String::new();
    for m in figures {
        out.push_str(&format!(
            "\n== peak RSS of checkpoint save and load, {} ({} stored, {} saved) ==\n",
            m.workload,
            fmt_bytes(m.store_bytes as f64),
            fmt_bytes(m.checkpoint_bytes as f64)
        ));
        for (what, s, steady, peak, above) in [
            (
                "save",
                m.save_s,
                m.save_steady_rss,
                m.save_peak_rss,
                m.save_above_steady,
            ),
            (
                "load",
                m.load_s,
                m.load_steady_rss,
                m.load_peak_rss,
                m.load_above_steady,
            ),
        ] {
            out.push_str(&format!(
                "{what}: {s:.2} s, steady RSS {}, peak {}, peak - steady {} (limit {}) {}\n",
                fmt_bytes(steady as f64),
                fmt_bytes(peak as f64),
                fmt_bytes(above as f64),
                fmt_bytes(m.limit_bytes as f64),
                if above <= m.limit_bytes as i64 {
                    "met"
                } else {
                    "MISSED"
                }
            ));
        }
        out.push_str(&format!(
            "load: RSS before {} (source store dropped)\n",
            fmt_bytes(m.load_rss_before as f64)
        ));
    }
    out
}
