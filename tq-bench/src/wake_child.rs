//! The Redis wake-up case: the puts come from another process, perftest
//! run again with `--wake-putter-child <request JSON>`, as a trainer's
//! waiter and a rollout worker's put would. Per round the parent writes a
//! key on the child's stdin; the child puts the row and answers with the
//! CLOCK_MONOTONIC instant its `kv_put` returned. The baseline is a PING
//! round trip on a plain connection to the (first) server.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tq_facade::TransferQueue;

use crate::open::{Opened, redis_config};
use crate::redis_nodes::{Node, RedisTarget, connect};
use crate::report::Target;
use crate::run::Options;
use crate::wake::{
    self, Latencies, PARTITION, REDIS_RATIO_GOAL, WARMUP_ROUNDS, WakeFigure, now_ns,
};

/// What the putter process opens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PutterRequest {
    /// The store's servers (a cluster's masters).
    pub urls: Vec<String>,
    /// Whether `urls` are the masters of a cluster.
    pub cluster: bool,
    /// The key prefix the waiter's store uses.
    pub prefix: String,
}

fn target_of(req: &PutterRequest) -> RedisTarget {
    // redis_config only needs the URLs: no hash tags to look up.
    RedisTarget {
        nodes: req
            .urls
            .iter()
            .map(|u| Node {
                url: u.clone(),
                tag: None,
            })
            .collect(),
        cluster: req.cluster,
    }
}

/// The child's side: opens the store, says `ready`, then per key on stdin
/// puts the row and prints when the put returned (ns, CLOCK_MONOTONIC).
/// Ends at the end of stdin.
pub fn child_main(rt: &tokio::runtime::Runtime, request_json: &str) -> Result<(), String> {
    let req: PutterRequest = serde_json::from_str(request_json)
        .map_err(|e| format!("bad --wake-putter-child request: {e}"))?;
    let tq = rt
        .block_on(TransferQueue::open(redis_config(
            &target_of(&req),
            &req.prefix,
        )))
        .map_err(|e| format!("cannot open the backend: {e}"))?;
    let row = wake::row()?;
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| format!("putter pipe: {e}");
    writeln!(out, "ready").map_err(io)?;
    out.flush().map_err(io)?;
    for line in std::io::stdin().lock().lines() {
        let key = line.map_err(io)?;
        rt.block_on(tq.kv_put(&key, PARTITION, Some(row.clone()), None))
            .map_err(|e| format!("kv_put: {e}"))?;
        let done = now_ns();
        writeln!(out, "{done}").map_err(io)?;
        out.flush().map_err(io)?;
    }
    Ok(())
}

/// The parent's handle on the putter process.
struct Putter {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Putter {
    fn start(exe: &Path, req: &PutterRequest) -> Result<Self, String> {
        let json = serde_json::to_string(req).map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .arg("--wake-putter-child")
            .arg(json)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {} as the putter: {e}", exe.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("the putter process has no pipes".into());
        };
        let mut p = Putter {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
        };
        match p.read_line()?.as_str() {
            "ready" => Ok(p),
            other => Err(format!("the putter process said {other:?}, not ready")),
        }
    }

    fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err("the putter process ended (its error is on stderr)".into()),
            Ok(_) => Ok(line.trim().to_owned()),
            Err(e) => Err(format!("reading the putter process: {e}")),
        }
    }

    /// Has the child put `key`; the instant its put returned.
    fn put(&mut self, key: &str) -> Result<i64, String> {
        let stdin = self.stdin.as_mut().ok_or("the putter's stdin is closed")?;
        writeln!(stdin, "{key}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("writing to the putter process: {e}"))?;
        let line = self.read_line()?;
        line.parse()
            .map_err(|e| format!("the putter process answered {line:?}: {e}"))
    }
}

impl Drop for Putter {
    fn drop(&mut self) {
        // Closing stdin ends the child's loop.
        self.stdin.take();
        let _ = self.child.wait();
    }
}

/// Rounds with the put from the putter process.
async fn from_child(
    waiter: &TransferQueue,
    exe: &Path,
    req: PutterRequest,
    n: usize,
) -> Result<Vec<i64>, String> {
    let exe = exe.to_owned();
    let putter = tokio::task::spawn_blocking(move || Putter::start(&exe, &req))
        .await
        .map_err(|e| format!("putter start task: {e}"))??;
    let putter = Arc::new(Mutex::new(putter));
    let out = wake::rounds(n, |i| {
        let (p, k) = (putter.clone(), wake::key(i));
        let put = async move {
            tokio::task::spawn_blocking(move || {
                p.lock()
                    .map_err(|_| "the putter lock is poisoned".to_owned())?
                    .put(&k)
            })
            .await
            .map_err(|e| format!("putter task: {e}"))?
        };
        Ok((wake::wait_on(waiter.clone(), i), put))
    })
    .await;
    drop(putter);
    wake::clear(waiter, n).await?;
    out
}

/// PING round trips on a plain connection to `url`, the warm-up included
/// as for the wake-ups.
async fn ping_round_trips(url: &str, n: usize) -> Result<Vec<i64>, String> {
    let mut con = connect(url).await?;
    let mut out = Vec::with_capacity(n);
    for i in 0..WARMUP_ROUNDS + n {
        let start = now_ns();
        redis::cmd("PING")
            .query_async::<()>(&mut con)
            .await
            .map_err(|e| format!("PING {url}: {e}"))?;
        if i >= WARMUP_ROUNDS {
            out.push(now_ns() - start);
        }
    }
    Ok(out)
}

/// The case on a Redis store (a fresh key prefix on `target`).
pub async fn redis_case(
    b: &Opened,
    target: &RedisTarget,
    opts: &Options,
) -> Result<WakeFigure, String> {
    let n = opts.wake_ups;
    let prefix = format!("tqbench-wake-{}", std::process::id());
    let open = || TransferQueue::open(redis_config(target, &prefix));
    let waiter = open()
        .await
        .map_err(|e| format!("cannot open the backend: {e}"))?;
    let notifications = format!("{:?}", waiter.capabilities().notifications);
    let (ns, putter) = match &opts.probe_exe {
        Some(exe) => {
            let req = PutterRequest {
                urls: target.nodes.iter().map(|n| n.url.clone()).collect(),
                cluster: target.cluster,
                prefix: prefix.clone(),
            };
            let ns = from_child(&waiter, exe, req, n).await?;
            (ns, "another process")
        }
        None => {
            let other = open()
                .await
                .map_err(|e| format!("cannot open the backend: {e}"))?;
            let ns = wake::in_process(&waiter, &other, n).await?;
            (ns, "another task on its own connection")
        }
    };
    let first = target.nodes.first().ok_or("no Redis server")?;
    let pings = ping_round_trips(&first.url, n).await?;
    let baseline = if target.cluster {
        "redis ping round trip (first master)"
    } else {
        "redis ping round trip"
    };
    Ok(wake::figure(
        b,
        n,
        notifications,
        putter.into(),
        Latencies::from_ns(&ns),
        baseline.into(),
        Latencies::from_ns(&pings),
        Some(Target::MaxRatio(REDIS_RATIO_GOAL)),
    ))
}
