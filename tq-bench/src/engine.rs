//! The engine baseline: what redis-server itself sustains at a given value
//! size, measured with `redis-benchmark` against the same server(s) the
//! backend uses.
//!
//! A standalone server gets the stock tests,
//! `redis-benchmark -u URL -t set,get -d BYTES -P p -c c -n N -r R --csv`.
//! A cluster master gets the same as custom commands on keys of a hash tag
//! it serves (`SET key:{tag}:__rand_int__ <value from stdin>`, then
//! `GET key:{tag}:__rand_int__`), every master in parallel, the requests per
//! second summed: plain `-t set,get` against a master would be answered
//! `MOVED` for two keys in three.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::redis_nodes::Node;

/// What to tell a developer whose machine lacks `redis-benchmark`.
pub const INSTALL_HINT: &str = "redis-benchmark must be on PATH: apt-get install redis-tools \
     (Debian's redis-server package brings it too)";

/// Longest one `redis-benchmark` run may take before it is killed.
const TIMEOUT: Duration = Duration::from_secs(300);

/// Checks that `redis-benchmark` can be run.
pub fn check_installed() -> Result<(), String> {
    Command::new("redis-benchmark")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run redis-benchmark ({e}): {INSTALL_HINT}"))
        .and_then(|s| {
            s.success()
                .then_some(())
                .ok_or_else(|| format!("redis-benchmark --version failed ({s}): {INSTALL_HINT}"))
        })
}

/// One `redis-benchmark` setting, per node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// Connections (`-c`).
    pub clients: usize,
    /// Requests pipelined per connection (`-P`).
    pub pipeline: usize,
    /// Value size (`-d`).
    pub value_bytes: usize,
    /// Requests per test (`-n`).
    pub requests: usize,
    /// Random keys (`-r`): bounds the server memory the test takes.
    pub keyspace: usize,
}

impl Load {
    /// `-P16 -c1`, as printed in row names.
    pub fn label(&self) -> String {
        format!("-P{} -c{}", self.pipeline, self.clients)
    }
}

/// Requests per second of `SET` and of `GET`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// `SET` requests per second.
    pub set: f64,
    /// `GET` requests per second.
    pub get: f64,
}

/// The rows of `redis-benchmark --csv` output: (test, requests per second).
pub fn parse_csv(text: &str) -> Result<Vec<(String, f64)>, String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let header = lines.next().ok_or("redis-benchmark printed nothing")?;
    let columns = split_csv(header);
    let rps = columns
        .iter()
        .position(|c| c == "rps")
        .ok_or_else(|| format!("no rps column in redis-benchmark's header {header:?}"))?;
    let mut rows = Vec::new();
    for line in lines {
        let cells = split_csv(line);
        let (Some(test), Some(value)) = (cells.first(), cells.get(rps)) else {
            return Err(format!("short redis-benchmark row {line:?}"));
        };
        let value: f64 = value
            .parse()
            .map_err(|_| format!("redis-benchmark row {line:?}: rps {value:?} is no number"))?;
        // `inf` when the test took under a millisecond: [`measure`] retries.
        if value.is_nan() || value <= 0.0 {
            return Err(format!("redis-benchmark row {line:?}: rps {value}"));
        }
        rows.push((test.clone(), value));
    }
    Ok(rows)
}

/// The fields of one CSV line; double quotes group, `""` is a quote.
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// The rate of the row whose test is `SET`/`GET` or starts with `SET `/`GET `.
fn rate_of(rows: &[(String, f64)], op: &str) -> Option<f64> {
    rows.iter()
        .find(|(t, _)| t == op || t.starts_with(&format!("{op} ")))
        .map(|(_, r)| *r)
}

/// `SET` and `GET` rates of a `-t set,get` run.
pub fn rates(rows: &[(String, f64)]) -> Result<Rates, String> {
    match (rate_of(rows, "SET"), rate_of(rows, "GET")) {
        (Some(set), Some(get)) => Ok(Rates { set, get }),
        _ => Err(format!(
            "redis-benchmark gave no SET and GET rows: {rows:?}"
        )),
    }
}

fn common_args(node: &Node, load: &Load) -> Vec<String> {
    [
        "-u",
        node.url.as_str(),
        "-P",
        &load.pipeline.max(1).to_string(),
        "-c",
        &load.clients.max(1).to_string(),
        "-n",
        &load.requests.max(1).to_string(),
        "-r",
        &load.keyspace.max(1).to_string(),
        "--csv",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A started `redis-benchmark`, its stdin written by a thread.
fn spawn(args: &[String], stdin: Option<Vec<u8>>) -> Result<Child, String> {
    let mut child = Command::new("redis-benchmark")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run redis-benchmark ({e}): {INSTALL_HINT}"))?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    Ok(child)
}

/// Waits for `child` at most [`TIMEOUT`] (then kills it); its parsed rows.
fn finish(child: Child, what: &str) -> Result<Vec<(String, f64)>, String> {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(TIMEOUT) {
        Ok(out) => out.map_err(|e| format!("redis-benchmark ({what}): {e}"))?,
        Err(_) => {
            kill(pid);
            let _ = rx.recv_timeout(Duration::from_secs(5));
            return Err(format!(
                "redis-benchmark ({what}) took over {} s and was killed",
                TIMEOUT.as_secs()
            ));
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!(
            "redis-benchmark ({what}) failed ({}): {stderr}{stdout}",
            out.status
        ));
    }
    parse_csv(&stdout).map_err(|e| format!("{e} ({what}; stderr: {stderr})"))
}

fn kill(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: sends a signal to our own child process, nothing else.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// Runs `load` on every node at once (blocking) and sums the rates; a test
/// too short for redis-benchmark's millisecond clock (rate `inf`) is run
/// again with ten times the requests, up to three times.
pub fn measure(nodes: &[Node], load: &Load) -> Result<Rates, String> {
    timed(
        load,
        |l| measure_once(nodes, l),
        |r| r.set.is_finite() && r.get.is_finite(),
    )
}

/// `run(load)`; a run too short for redis-benchmark's millisecond clock
/// (`finite` false: a rate of `inf`) runs again with ten times the
/// requests, up to three times, then is an error.
fn timed<T>(
    load: &Load,
    run: impl Fn(&Load) -> Result<T, String>,
    finite: impl Fn(&T) -> bool,
) -> Result<T, String> {
    let mut load = *load;
    for _ in 0..3 {
        let r = run(&load)?;
        if finite(&r) {
            return Ok(r);
        }
        load.requests = load.requests.saturating_mul(10);
    }
    let r = run(&load)?;
    if finite(&r) {
        Ok(r)
    } else {
        Err(format!(
            "redis-benchmark ran {} requests in under a millisecond",
            load.requests
        ))
    }
}

/// One run of `load` on every node at once.
///
/// Untagged nodes (a standalone server) run `-t set,get`; tagged nodes
/// (cluster masters) run a `SET` phase on every node, then a `GET` phase.
fn measure_once(nodes: &[Node], load: &Load) -> Result<Rates, String> {
    if nodes.is_empty() {
        return Err("no Redis node to run redis-benchmark against".into());
    }
    if nodes.iter().all(|n| n.tag.is_none()) {
        let children = nodes
            .iter()
            .map(|n| {
                let mut args = common_args(n, load);
                args.extend(["-t".into(), "set,get".into()]);
                args.extend(["-d".into(), load.value_bytes.max(1).to_string()]);
                spawn(&args, None)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut sum = Rates { set: 0.0, get: 0.0 };
        for (child, n) in children.into_iter().zip(nodes) {
            let r = rates(&finish(child, &n.url)?)?;
            sum.set += r.set;
            sum.get += r.get;
        }
        return Ok(sum);
    }
    let set = custom_phase(nodes, load, "SET")?;
    let get = custom_phase(nodes, load, "GET")?;
    Ok(Rates { set, get })
}

/// `op` (`SET`, its value from stdin, or `GET`) of `key:{tag}:__rand_int__`
/// on every node at once (`tag`: one the node serves, `t` on a standalone
/// server), the requests per second summed.
fn custom_phase(nodes: &[Node], load: &Load, op: &str) -> Result<f64, String> {
    let value = vec![b'x'; load.value_bytes.max(1)];
    let children = nodes
        .iter()
        .map(|n| {
            let tag = n.tag.as_deref().unwrap_or("t");
            let mut args = common_args(n, load);
            if op == "SET" {
                args.push("-x".into());
            }
            args.extend([op.to_owned(), format!("key:{{{tag}}}:__rand_int__")]);
            spawn(&args, (op == "SET").then(|| value.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut sum = 0.0;
    for (child, n) in children.into_iter().zip(nodes) {
        let rows = finish(child, &format!("{op} on {}", n.url))?;
        sum += rate_of(&rows, op)
            .ok_or_else(|| format!("redis-benchmark gave no {op} row: {rows:?}"))?;
    }
    Ok(sum)
}

/// The keyspace of [`measure_new_sets`]: `-r` takes a C `int`, and among
/// two billion keys a run of thousands of requests picks almost only keys
/// it has not written yet (9,216 requests: about 0.02 repeats expected).
pub const NEW_KEYSPACE: usize = 2_000_000_000;

/// `SET`s per second when every request stores a value under a key the
/// server does not hold yet: `load.requests` per node (all nodes at once)
/// over [`NEW_KEYSPACE`] keys, as a put of that many new cells does. The
/// stock test's small keyspace (at most 64 MiB per node, see [`keyspace`])
/// overwrites its keys, so the server reuses the memory it just freed;
/// storing new values makes it take fresh memory (page faults included),
/// which is what a put of new rows costs it. Timed like [`measure`]. The
/// caller removes the keys.
pub fn measure_new_sets(nodes: &[Node], load: &Load) -> Result<f64, String> {
    if nodes.is_empty() {
        return Err("no Redis node to run redis-benchmark against".into());
    }
    let load = Load {
        keyspace: NEW_KEYSPACE,
        ..*load
    };
    timed(&load, |l| custom_phase(nodes, l, "SET"), |r| r.is_finite())
}

/// Keys per node: at most 64 MiB of values, and few enough that the `SET`
/// test writes almost every key before the `GET` test reads them.
pub fn keyspace(requests: usize, value_bytes: usize) -> usize {
    let by_memory = (64usize << 20) / value_bytes.max(1);
    by_memory.min(requests / 8).clamp(1, 1_000_000)
}

/// A load whose `SET` + `GET` tests take about `secs` per node, from a
/// short probe run (or exactly `requests` per test when given).
pub fn calibrate(
    nodes: &[Node],
    clients: usize,
    pipeline: usize,
    value_bytes: usize,
    secs: f64,
    requests: Option<usize>,
) -> Result<Load, String> {
    let sized = |requests: usize| Load {
        clients,
        pipeline,
        value_bytes,
        requests,
        keyspace: keyspace(requests, value_bytes),
    };
    if let Some(n) = requests {
        return Ok(sized(n.max(1)));
    }
    // About 32 MiB or 2,000 requests, whichever is less (and at least 200).
    let probe = sized(((32usize << 20) / value_bytes.max(1)).clamp(200, 2_000));
    let r = measure(nodes, &probe)?;
    Ok(resized(&probe, &r, nodes.len(), secs))
}

/// `load` with as many requests (and a keyspace to match) as make its
/// `SET` + `GET` tests take about `secs` at the rates `r` summed over
/// `nodes` nodes; at least 1,000.
pub fn resized(load: &Load, r: &Rates, nodes: usize, secs: f64) -> Load {
    let n = nodes.max(1) as f64;
    let per_request = n / r.set + n / r.get;
    let requests = if per_request.is_finite() && per_request > 0.0 {
        (secs / per_request).clamp(1_000.0, 10_000_000.0) as usize
    } else {
        load.requests.max(1_000)
    };
    Load {
        requests,
        keyspace: keyspace(requests, load.value_bytes),
        ..*load
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\"\n\
                       \"SET\",\"10025.06\",\"0.962\",\"0.120\"\n\
                       \"GET\",\"19474.20\",\"0.505\",\"0.088\"\n";

    #[test]
    fn csv_rows_are_parsed() {
        let rows = parse_csv(OUT).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rates(&rows).unwrap(),
            Rates {
                set: 10025.06,
                get: 19474.20
            }
        );
        let custom = "\"test\",\"rps\"\n\"SET key:{t1}:__rand_int__\",\"15372.79\"\n";
        let rows = parse_csv(custom).unwrap();
        assert_eq!(rate_of(&rows, "SET"), Some(15372.79));
        assert_eq!(rate_of(&rows, "GET"), None);
        assert!(rates(&rows).is_err());
    }

    #[test]
    fn bad_csv_is_an_error() {
        assert!(parse_csv("").is_err());
        assert!(parse_csv("\"test\",\"avg\"\n\"SET\",\"1\"\n").is_err());
        assert!(parse_csv("\"test\",\"rps\"\n\"SET\"\n").is_err());
        assert!(parse_csv("\"test\",\"rps\"\n\"SET\",\"fast\"\n").is_err());
        assert!(parse_csv("\"test\",\"rps\"\n\"SET\",\"0\"\n").is_err());
        assert!(parse_csv("\"test\",\"rps\"\n\"SET\",\"NaN\"\n").is_err());
        let inf = parse_csv("\"test\",\"rps\"\n\"GET\",\"inf\"\n").unwrap();
        assert_eq!(inf[0].1, f64::INFINITY);
        assert_eq!(parse_csv("\"test\",\"rps\"\n").unwrap(), vec![]);
    }

    #[test]
    fn csv_quotes() {
        assert_eq!(split_csv("\"a,b\",\"c\"\"d\",e"), vec!["a,b", "c\"d", "e"]);
    }

    #[test]
    fn loads_are_resized_to_the_time() {
        let load = Load {
            clients: 1,
            pipeline: 16,
            value_bytes: 32_768,
            requests: 2_000,
            keyspace: 250,
        };
        let r = Rates {
            set: 20_000.0,
            get: 20_000.0,
        };
        let two = resized(&load, &r, 1, 2.0);
        assert_eq!(two.requests, 20_000);
        assert_eq!(two.keyspace, 2_048);
        assert_eq!((two.clients, two.pipeline), (1, 16));
        // Three nodes share the summed rates.
        assert_eq!(resized(&load, &r, 3, 2.0).requests, 6_666);
        let inf = Rates {
            set: f64::INFINITY,
            get: f64::INFINITY,
        };
        assert_eq!(resized(&load, &inf, 1, 2.0).requests, 2_000);
    }

    #[test]
    fn keyspace_is_bounded() {
        assert_eq!(keyspace(100_000, 32_768), 2_048);
        assert_eq!(keyspace(40_000, 16), 5_000);
        assert_eq!(keyspace(0, 0), 1);
        assert!(keyspace(usize::MAX, 1) <= 1_000_000);
    }
}
