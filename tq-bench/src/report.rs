//! Figures, medians, ratios against baselines, and the table and JSON output.

use serde::Serialize;

/// The median of `xs` (the mean of the middle two for an even count); NaN
/// for none.
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// A target a figure is checked against: its ratio to the baseline must be
/// at most `max_ratio`, or its rate at least `min_rate`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Time ratio to the baseline at most this.
    MaxRatio(f64),
    /// Operations (or the ratio of peak RSS to payload) per second at least this.
    MinRate(f64),
    /// Value (e.g. peak RSS / payload) at most this.
    MaxValue(f64),
}

/// One measured figure: several samples (one per iteration) of a time, and
/// optionally a ratio to a baseline measured in the same iterations.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// Backend name.
    pub backend: String,
    /// Workload label (shape, or small-op description).
    pub workload: String,
    /// What was measured, e.g. `put (kv_batch_put)`.
    pub name: String,
    /// Seconds per sample.
    pub seconds: Vec<f64>,
    /// Median of `seconds`.
    pub median_s: f64,
    /// Payload bytes per sample, for GB/s.
    pub bytes: Option<u64>,
    /// Operations per sample, for ops/s.
    pub ops: Option<u64>,
    /// The baseline figure's name, if this one has a ratio.
    pub baseline: Option<String>,
    /// Median over iterations of (this time / baseline time in the same iteration).
    pub ratio: Option<f64>,
    /// The target, if the issue sets one.
    pub target: Option<Target>,
    /// Whether the target is met.
    pub met: Option<bool>,
}

impl Figure {
    /// A figure from samples in seconds.
    pub fn new(backend: &str, workload: &str, name: &str, seconds: Vec<f64>) -> Self {
        Figure {
            backend: backend.to_owned(),
            workload: workload.to_owned(),
            name: name.to_owned(),
            median_s: median(&seconds),
            seconds,
            bytes: None,
            ops: None,
            baseline: None,
            ratio: None,
            target: None,
            met: None,
        }
    }

    /// Sets the payload bytes per sample.
    pub fn bytes(mut self, bytes: usize) -> Self {
        self.bytes = Some(bytes as u64);
        self
    }

    /// Sets the operations per sample.
    pub fn ops(mut self, ops: usize) -> Self {
        self.ops = Some(ops as u64);
        self
    }

    /// Sets the baseline: the ratio is the median of per-iteration ratios.
    pub fn against(mut self, baseline: &Figure) -> Self {
        let ratios: Vec<f64> = self
            .seconds
            .iter()
            .zip(&baseline.seconds)
            .map(|(s, b)| s / b)
            .collect();
        self.ratio = Some(median(&ratios));
        self.baseline = Some(baseline.name.clone());
        self
    }

    /// Sets the baseline for samples that are not paired by iteration: the
    /// ratio is this median over the baseline's median.
    pub fn against_median(mut self, baseline: &Figure) -> Self {
        self.ratio = Some(self.median_s / baseline.median_s);
        self.baseline = Some(baseline.name.clone());
        self
    }

    /// Sets a target and checks it.
    pub fn target(mut self, target: Target) -> Self {
        self.met = match target {
            Target::MaxRatio(max) => self.ratio.map(|r| r <= max),
            Target::MinRate(min) => self.ops_per_s().map(|r| r >= min),
            Target::MaxValue(max) => Some(self.median_s <= max),
        };
        self.target = Some(target);
        self
    }

    /// Median GB/s (10^9 bytes), if bytes are known.
    pub fn gb_per_s(&self) -> Option<f64> {
        self.bytes.map(|b| b as f64 / self.median_s / 1e9)
    }

    /// Median operations per second, if operations are known.
    pub fn ops_per_s(&self) -> Option<f64> {
        self.ops.map(|n| n as f64 / self.median_s)
    }
}

/// Memory figures of one backend and workload.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryFigure {
    /// Backend name.
    pub backend: String,
    /// Workload label.
    pub workload: String,
    /// Payload bytes.
    pub payload_bytes: u64,
    /// RSS when the phase began (payload generated, baselines freed), the
    /// largest over iterations. It includes the caller's payload, tq-core's
    /// pooled get outputs, and what the raw baselines left in the allocator.
    pub rss_before: u64,
    /// Peak RSS during put + list + get + clear, the largest over iterations.
    pub peak_rss: u64,
    /// The largest (peak - RSS at the start) of one iteration: what put,
    /// list, get and clear themselves added.
    pub peak_growth: i64,
    /// `peak_rss / payload_bytes`.
    pub peak_over_payload: f64,
    /// The target for `peak_over_payload`, if any.
    pub target: Option<f64>,
    /// Whether it is met.
    pub met: Option<bool>,
}

/// Bookkeeping the store keeps beyond tensor bytes, from many tiny rows.
#[derive(Debug, Clone, Serialize)]
pub struct OverheadFigure {
    /// Backend name.
    pub backend: String,
    /// Rows put.
    pub rows: usize,
    /// Fields per row.
    pub fields: usize,
    /// Bytes of each cell's tensor.
    pub cell_bytes: usize,
    /// Tensor bytes stored in all.
    pub payload_bytes: u64,
    /// Growth of allocator bytes in use (glibc mallinfo2) from before the
    /// inputs were built to after the put, with the caller's inputs dropped.
    pub heap_growth: i64,
    /// `heap_growth - payload_bytes`.
    pub overhead_bytes: i64,
    /// `overhead_bytes / (rows * fields)`.
    pub per_cell: f64,
    /// RSS growth over the same span.
    pub rss_growth: i64,
    /// Allocator bytes still in use after clearing every row, relative to
    /// before (leak check; allocator caches make small positives normal).
    pub heap_after_clear: i64,
}

/// Everything a run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Timed figures.
    pub figures: Vec<Figure>,
    /// Peak RSS per backend and workload.
    pub memory: Vec<MemoryFigure>,
    /// Stored overhead per cell.
    pub overhead: Vec<OverheadFigure>,
    /// Redis: server memory around a put, client peak RSS over put + get.
    #[cfg(feature = "redis")]
    pub server_memory: Vec<crate::memory_probe::PutGetMemory>,
    /// Peak RSS of a checkpoint save and load of a large memory store.
    pub checkpoint_memory: Vec<crate::checkpoint_mem::CheckpointMemory>,
    /// kv_put -> kv_wait wake-up latency per backend, with its baseline.
    pub wake: Vec<crate::wake::WakeFigure>,
    /// Notes: skipped parts and why.
    pub notes: Vec<String>,
}

/// `s` seconds as s, ms or us.
pub fn fmt_time(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.2} us", s * 1e6)
    }
}

/// `b` bytes as B, kB or MB (10^3 steps).
pub fn fmt_bytes(b: f64) -> String {
    if b.abs() >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b.abs() >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b:.0} B")
    }
}

fn fmt_target(t: &Target) -> String {
    match t {
        Target::MaxRatio(r) => format!("<= {r:.2}x"),
        Target::MinRate(r) => format!(">= {r:.0}/s"),
        Target::MaxValue(v) => format!("<= {v}"),
    }
}

impl Report {
    /// The report as a human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut group = (String::new(), String::new());
        for f in &self.figures {
            if (f.backend.clone(), f.workload.clone()) != group {
                group = (f.backend.clone(), f.workload.clone());
                out.push_str(&format!("\n== {} / {} ==\n", f.backend, f.workload));
                out.push_str(&format!(
                    "{:<42} {:>10} {:>10} {:>10} {:>13} {:>8}  {:<36} {:>10} {}\n",
                    "figure", "median", "min", "max", "rate", "ratio", "baseline", "target", ""
                ));
            }
            let min = f.seconds.iter().copied().fold(f64::INFINITY, f64::min);
            let max = f.seconds.iter().copied().fold(0.0, f64::max);
            let rate = match (f.gb_per_s(), f.ops_per_s()) {
                (Some(g), _) => format!("{g:.2} GB/s"),
                (None, Some(o)) => format!("{o:.0} op/s"),
                _ => String::new(),
            };
            let ratio = f.ratio.map(|r| format!("{r:.3}x")).unwrap_or_default();
            let target = f.target.as_ref().map(fmt_target).unwrap_or_default();
            let met = match f.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "",
            };
            out.push_str(&format!(
                "{:<42} {:>10} {:>10} {:>10} {:>13} {:>8}  {:<36} {:>10} {}\n",
                f.name,
                fmt_time(f.median_s),
                fmt_time(min),
                fmt_time(max),
                rate,
                ratio,
                f.baseline.as_deref().unwrap_or(""),
                target,
                met
            ));
        }
        if !self.memory.is_empty() {
            out.push_str("\n== peak RSS during put + list + get + clear ==\n");
            out.push_str(&format!(
                "{:<10} {:<28} {:>10} {:>11} {:>10} {:>10} {:>9} {:>9}\n",
                "backend",
                "workload",
                "payload",
                "RSS before",
                "peak RSS",
                "growth",
                "peak/pay",
                "target"
            ));
            for m in &self.memory {
                out.push_str(&format!(
                    "{:<10} {:<28} {:>10} {:>11} {:>10} {:>10} {:>8.2}x {:>9} {}\n",
                    m.backend,
                    m.workload,
                    fmt_bytes(m.payload_bytes as f64),
                    fmt_bytes(m.rss_before as f64),
                    fmt_bytes(m.peak_rss as f64),
                    fmt_bytes(m.peak_growth as f64),
                    m.peak_over_payload,
                    m.target.map(|t| format!("<= {t}x")).unwrap_or_default(),
                    match m.met {
                        Some(true) => "met",
                        Some(false) => "MISSED",
                        None => "",
                    }
                ));
            }
        }
        #[cfg(feature = "redis")]
        out.push_str(&crate::memory_probe::table(&self.server_memory));
        out.push_str(&crate::wake::table(&self.wake));
        out.push_str(&crate::checkpoint_mem::table(&self.checkpoint_memory));
        if !self.overhead.is_empty() {
            out.push_str("\n== stored overhead (bookkeeping beyond tensor bytes) ==\n");
            for o in &self.overhead {
                out.push_str(&format!(
                    "{}: {} rows x {} field(s) of {} B: heap +{} for {} of tensor bytes -> {:.0} B per cell (RSS +{}; after clear {:+} B)\n",
                    o.backend,
                    o.rows,
                    o.fields,
                    o.cell_bytes,
                    fmt_bytes(o.heap_growth as f64),
                    fmt_bytes(o.payload_bytes as f64),
                    o.per_cell,
                    fmt_bytes(o.rss_growth as f64),
                    o.heap_after_clear
                ));
            }
        }
        for one in self.overhead.iter().filter(|o| o.fields == 1) {
            if let Some(four) = self
                .overhead
                .iter()
                .find(|o| o.backend == one.backend && o.fields == 4 && o.rows == one.rows)
            {
                let per_cell =
                    (four.overhead_bytes - one.overhead_bytes) as f64 / (3 * one.rows) as f64;
                let per_row = one.overhead_bytes as f64 / one.rows as f64 - per_cell;
                out.push_str(&format!(
                    "{}: split from the 1- and 4-field runs: {per_row:.0} B per row (key, tag, row record) + {per_cell:.0} B per additional cell\n",
                    one.backend
                ));
            }
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out
    }
}
