//! The memory probe in a process of its own: perftest runs itself again
//! with `--memory-probe-child <request JSON>`; that process generates the
//! payload, opens the Redis store on the same servers, puts and gets once
//! and prints the [`PutGetMemory`] as JSON. Its peak RSS is then what a
//! client doing only that needs, without perftest's own allocations
//! (baselines, tq-core's pooled get outputs, earlier iterations).

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};
use tq_facade::TransferQueue;

use crate::data::{Payload, Shape};
use crate::memory_probe::{PutGetMemory, probe};
use crate::redis_nodes::RedisTarget;

/// What the child process measures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildRequest {
    /// Backend name for the report.
    pub backend: String,
    /// The store's servers (a cluster's masters).
    pub urls: Vec<String>,
    /// Whether `urls` are the masters of a cluster.
    pub cluster: bool,
    /// The workload shape (the payload is generated with the run's seed).
    pub shape: Shape,
    /// A key prefix no other store of the run uses.
    pub prefix: String,
}

/// The payload seed of every perftest workload.
pub const SEED: u64 = 0x5eed;

/// The child's side: measures and returns the figure.
pub async fn child_main(request_json: &str) -> Result<PutGetMemory, String> {
    let req: ChildRequest = serde_json::from_str(request_json)
        .map_err(|e| format!("bad --memory-probe-child request: {e}"))?;
    let target = if req.cluster {
        RedisTarget::cluster(&req.urls).await?
    } else {
        let url = req.urls.first().ok_or("no Redis URL in the request")?;
        RedisTarget::standalone(url)
    };
    let payload = Payload::generate(req.shape, SEED).map_err(|e| e.to_string())?;
    let tq = TransferQueue::open(crate::open::redis_config(&target, &req.prefix))
        .await
        .map_err(|e| format!("cannot open the backend: {e}"))?;
    let mut m = probe(&req.backend, &tq, None, &target, &payload, "probe").await?;
    m.client_own_process = true;
    Ok(m)
}

/// The parent's side: runs `exe --memory-probe-child <request>` and reads
/// the figure it prints.
pub async fn run_child(exe: &Path, req: &ChildRequest) -> Result<PutGetMemory, String> {
    let json = serde_json::to_string(req).map_err(|e| e.to_string())?;
    let exe = exe.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&exe)
            .arg("--memory-probe-child")
            .arg(&json)
            .output()
            .map_err(|e| format!("cannot run {} for the memory probe: {e}", exe.display()))
    })
    .await
    .map_err(|e| format!("memory probe task: {e}"))??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "the memory probe process failed ({}): {}{stdout}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_str(&stdout)
        .map_err(|e| format!("the memory probe process printed no figure ({e}): {stdout}"))
}
