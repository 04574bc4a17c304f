//! Memory of a Redis store around one untimed put + get of the workload:
//! the servers' `used_memory` (INFO memory) before and after the put, the
//! same for the raw `redis` crate writing the same cells with `SET`, and
//! the client's peak RSS over the put and the get; also what the servers
//! did during each ([`crate::server_work`]: CPU time against wall time,
//! time per command).

use serde::{Deserialize, Serialize};
use tq_facade::TransferQueue;

use crate::baseline::RawRedis;
use crate::data::Payload;
use crate::mem;
use crate::redis_nodes::RedisTarget;
use crate::report::fmt_bytes;
use crate::server_work::{ServerWork, work};

/// Server memory over payload the issue asks for after a large put.
pub const SERVER_TARGET: f64 = 1.3;
/// Client peak RSS over payload for put + get.
pub const CLIENT_TARGET: f64 = 2.5;

/// What one probe measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PutGetMemory {
    /// Backend name.
    pub backend: String,
    /// Workload label.
    pub workload: String,
    /// Payload bytes.
    pub payload_bytes: u64,
    /// `used_memory` (summed over masters) before the put.
    pub server_before: u64,
    /// `used_memory` after the put.
    pub server_after_put: u64,
    /// `used_memory` after the rows were cleared again.
    pub server_after_clear: u64,
    /// `(after put - before) / payload`.
    pub server_delta_over_payload: f64,
    /// The same for the raw `redis` crate's `SET` per cell, if measured.
    pub raw_set_delta_over_payload: Option<f64>,
    /// Whether the client figures come from a process of their own that
    /// only generated the payload, put and got it (else from perftest's
    /// process, whose earlier allocations they include).
    pub client_own_process: bool,
    /// Client RSS before the put (after handing freed memory back to the OS).
    pub client_rss_before: u64,
    /// Client peak RSS over the put and the get.
    pub client_peak_rss: u64,
    /// Client peak RSS during the put alone.
    pub client_peak_put: u64,
    /// Client peak RSS during the get alone (peak reset after the put).
    pub client_peak_get: u64,
    /// `client_peak_rss / payload`.
    pub client_peak_over_payload: f64,
    /// The targets (server, client), set for payloads of 64 MiB and more.
    pub targets: Option<(f64, f64)>,
    /// Whether each is met.
    pub met: Option<(bool, bool)>,
    /// What the servers did during the put (CPU, time per command).
    #[serde(default)]
    pub server_put: Option<ServerWork>,
    /// The same during the get.
    #[serde(default)]
    pub server_get: Option<ServerWork>,
}

/// Commands listed per operation in [`ServerWork::top`].
const TOP_COMMANDS: usize = 5;

fn err(op: &str) -> impl Fn(tq_facade::Error) -> String + '_ {
    move |e| format!("memory probe {op}: {e}")
}

/// The raw crate's `used_memory` growth per payload byte for a `SET` of
/// every cell.
pub async fn raw_delta(
    raw: &mut RawRedis,
    target: &RedisTarget,
    p: &Payload,
) -> Result<f64, String> {
    let before = target.used_memory().await?;
    raw.put(p).await?;
    let after = target.used_memory().await?;
    raw.clear(p).await?;
    Ok((after as f64 - before as f64) / p.bytes() as f64)
}

/// Puts and gets `payload` once on `partition` (untimed), measuring the
/// servers' memory around the put and the client's peak RSS, then clears.
pub async fn probe(
    backend: &str,
    tq: &TransferQueue,
    raw: Option<&mut RawRedis>,
    target: &RedisTarget,
    payload: &Payload,
    partition: &str,
) -> Result<PutGetMemory, String> {
    let bytes = payload.bytes() as f64;
    let raw_set_delta_over_payload = match raw {
        Some(raw) => Some(raw_delta(raw, target, payload).await?),
        None => None,
    };
    let batch = payload.batch().map_err(err("batch"))?;
    mem::trim();
    let server_before = target.used_memory().await?;
    let reset = mem::reset_peak_rss();
    let client_rss_before = mem::rss().unwrap_or(0);
    let counters_before_put = target.counters().await?;
    let start = std::time::Instant::now();
    tq.kv_batch_put(&payload.keys, partition, Some(batch), None)
        .await
        .map_err(err("kv_batch_put"))?;
    let put_ms = start.elapsed().as_secs_f64() * 1e3;
    let counters_after_put = target.counters().await?;
    let client_peak_put = if reset {
        mem::peak_rss().unwrap_or(0)
    } else {
        0
    };
    let server_after_put = target.used_memory().await?;
    let reset = reset && mem::reset_peak_rss();
    let counters_before_get = target.counters().await?;
    let start = std::time::Instant::now();
    let got = tq
        .kv_batch_get(&payload.keys, partition, None)
        .await
        .map_err(err("kv_batch_get"))?;
    let get_ms = start.elapsed().as_secs_f64() * 1e3;
    let counters_after_get = target.counters().await?;
    let client_peak_get = if reset {
        mem::peak_rss().unwrap_or(0)
    } else {
        0
    };
    let client_peak_rss = client_peak_put.max(client_peak_get);
    if got.num_rows() != payload.shape.batch {
        return Err(format!(
            "memory probe: get returned {} of {} rows",
            got.num_rows(),
            payload.shape.batch
        ));
    }
    drop(got);
    tq.kv_clear(&payload.keys, partition, None)
        .await
        .map_err(err("kv_clear"))?;
    let server_after_clear = target.used_memory().await?;
    let server_delta_over_payload = (server_after_put as f64 - server_before as f64) / bytes;
    let client_peak_over_payload = client_peak_rss as f64 / bytes;
    let large = payload.bytes() >= 64 << 20;
    Ok(PutGetMemory {
        backend: backend.to_owned(),
        workload: payload.shape.label(),
        payload_bytes: payload.bytes() as u64,
        server_before,
        server_after_put,
        server_after_clear,
        server_delta_over_payload,
        raw_set_delta_over_payload,
        client_own_process: false,
        client_rss_before,
        client_peak_rss,
        client_peak_put,
        client_peak_get,
        client_peak_over_payload,
        targets: large.then_some((SERVER_TARGET, CLIENT_TARGET)),
        met: large.then_some((
            server_delta_over_payload <= SERVER_TARGET,
            client_peak_rss > 0 && client_peak_over_payload <= CLIENT_TARGET,
        )),
        server_put: Some(work(
            &counters_before_put,
            &counters_after_put,
            put_ms,
            TOP_COMMANDS,
        )),
        server_get: Some(work(
            &counters_before_get,
            &counters_after_get,
            get_ms,
            TOP_COMMANDS,
        )),
    })
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "",
    }
}

/// The probes as table lines.
pub fn table(probes: &[PutGetMemory]) -> String {
    if probes.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n== Redis memory around one put + get (server used_memory; client peak RSS; server CPU and \
         command time: the first put and get of a fresh client process) ==\n",
    );
    out.push_str(&format!(
        "{:<14} {:<14} {:>9} {:>10} {:>11} {:>9} {:>8} {:>7} {:>11} {:>10} {:>8} {:>7}\n",
        "backend",
        "workload",
        "payload",
        "srv before",
        "srv +put",
        "+put/pay",
        "SET/pay",
        "target",
        "rss before",
        "peak RSS",
        "peak/pay",
        "target"
    ));
    for p in probes {
        let (server_met, client_met) = match p.met {
            Some((s, c)) => (Some(s), Some(c)),
            None => (None, None),
        };
        let (st, ct) = match p.targets {
            Some((s, c)) => (format!("<={s}x"), format!("<={c}x")),
            None => (String::new(), String::new()),
        };
        out.push_str(&format!(
            "{:<14} {:<14} {:>9} {:>10} {:>11} {:>8.3}x {:>8} {:>7} {:>11} {:>10} {:>7.2}x {:>7} {} / {}\n",
            p.backend,
            p.workload,
            fmt_bytes(p.payload_bytes as f64),
            fmt_bytes(p.server_before as f64),
            fmt_bytes(p.server_after_put as f64 - p.server_before as f64),
            p.server_delta_over_payload,
            p.raw_set_delta_over_payload
                .map(|r| format!("{r:.3}x"))
                .unwrap_or_default(),
            st,
            fmt_bytes(p.client_rss_before as f64),
            fmt_bytes(p.client_peak_rss as f64),
            p.client_peak_over_payload,
            ct,
            verdict(server_met),
            verdict(client_met),
        ));
        out.push_str(&format!(
            "{:<14} {:<14} client peak during put {}, during get {}; after clear: server {} ({:+} B against before); client {}\n",
            "",
            "",
            fmt_bytes(p.client_peak_put as f64),
            fmt_bytes(p.client_peak_get as f64),
            fmt_bytes(p.server_after_clear as f64),
            p.server_after_clear as i64 - p.server_before as i64,
            if p.client_own_process {
                "a process of its own (payload generated, put, get)"
            } else {
                "perftest's own process (includes its earlier allocations)"
            }
        ));
        for (op, w) in [("put", &p.server_put), ("get", &p.server_get)] {
            if let Some(w) = w {
                out.push_str(&format!("{:<14} {:<14} {op}: {}\n", "", "", w.line()));
            }
        }
    }
    out
}
