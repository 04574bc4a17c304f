//! Throughput of the Redis backend against what the engine itself takes
//! (`redis-benchmark`) on the same throwaway server(s), in the same run.
//!
//! ```text
//! cargo run -p tq-backend-redis --release --example throughput -- \
//!     [standalone|cluster] [big|small|list|rss] [reps] [rows ...]
//! ```
//!
//! - `big`: puts and gets of `rows` x 9 fields x 8192 f32 (32 KiB cells),
//!   against `redis-benchmark -t set,get -d 32768 -P 16` with `-c 1` and
//!   `-c 4` (cluster: against every master at once); also the server's
//!   `used_memory` growth per payload byte after a put.
//! - `small`: one-row puts and gets of one 32 KiB cell, one task and 16
//!   tasks, against `-P 1 -c 1` and `-c 16`.
//! - `list`: `kv_list` of a 16-key partition, fresh and after 10,000
//!   put+clear cycles of other keys.
//! - `rss`: the process' peak RSS (VmHWM) after one put + get of
//!   1024 x 9 x 8192 (run it alone; the payload itself counts).
//!
//! Servers listen on 127.0.0.1 only and die with the process.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tq_backend_redis::{RedisBackend, RedisConfig};
use tq_core::{Batch, KvStore, Row, Tensor};
use tq_test_support::{RedisCluster, RedisServer, redis_cli, unique_prefix};

const FIELDS: usize = 9;
const SEQ: usize = 8192;
const CELL: usize = SEQ * 4;

struct Target {
    ports: Vec<u16>,
    config: RedisConfig,
    _standalone: Option<RedisServer>,
    _cluster: Option<RedisCluster>,
}

fn start(cluster: bool) -> Target {
    if cluster {
        let c = RedisCluster::start(3).expect("cluster");
        let ports = c.nodes().iter().map(RedisServer::port).collect();
        let config = RedisConfig::cluster(c.urls());
        Target {
            ports,
            config,
            _standalone: None,
            _cluster: Some(c),
        }
    } else {
        let s = RedisServer::start().expect("server");
        let config = RedisConfig::standalone(s.url());
        Target {
            ports: vec![s.port()],
            config,
            _standalone: Some(s),
            _cluster: None,
        }
    }
}

/// GB/s of SET and GET that `redis-benchmark` reaches with `args`, against
/// every port at once (summed).
fn engine(ports: &[u16], args: &[&str]) -> (f64, f64) {
    let children: Vec<_> = ports
        .iter()
        .map(|p| {
            Command::new("redis-benchmark")
                .args(["-h", "127.0.0.1", "-p", &p.to_string(), "-q"])
                .args(args)
                .output()
        })
        .collect();
    let (mut set, mut get) = (0.0, 0.0);
    for out in children {
        let out = out.expect("redis-benchmark");
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.split(['\n', '\r']) {
            let rps = |l: &str| -> f64 {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0)
            };
            if line.starts_with("SET:") {
                set += rps(line);
            } else if line.starts_with("GET:") {
                get += rps(line);
            }
        }
    }
    (set, get)
}

fn engine_big(ports: &[u16], conns: usize, requests: usize) -> (f64, f64) {
    // Spawned in sequence per port would understate a cluster: run them
    // in parallel threads.
    let n = requests.to_string();
    let c = conns.to_string();
    let handles: Vec<_> = ports
        .iter()
        .map(|&p| {
            let (n, c) = (n.clone(), c.clone());
            std::thread::spawn(move || {
                engine(
                    &[p],
                    &[
                        "-t", "set,get", "-d", "32768", "-P", "16", "-c", &c, "-n", &n,
                    ],
                )
            })
        })
        .collect();
    let (mut s, mut g) = (0.0, 0.0);
    for h in handles {
        let (a, b) = h.join().expect("thread");
        s += a;
        g += b;
    }
    (s * CELL as f64 / 1e9, g * CELL as f64 / 1e9)
}

fn used_memory(ports: &[u16]) -> u64 {
    ports
        .iter()
        .map(|p| {
            let info = redis_cli(*p, &["info", "memory"]).unwrap_or_default();
            info.lines()
                .find_map(|l| l.strip_prefix("used_memory:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

fn flush(ports: &[u16]) {
    for p in ports {
        let _ = redis_cli(*p, &["flushall"]);
    }
}

fn batch(rows: usize) -> (Vec<String>, Batch) {
    let keys: Vec<String> = (0..rows).map(|i| format!("test_key_{i}")).collect();
    let mut b = Batch::new(rows);
    for f in 0..FIELDS {
        let values: Vec<f32> = (0..rows * SEQ)
            .map(|i| (i % 1000) as f32 + f as f32)
            .collect();
        let t = Tensor::from_vec(values, [rows, SEQ]).expect("tensor");
        b = b.with_dense(format!("field_{f}"), t).expect("column");
    }
    (keys, b)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn open(t: &Target) -> KvStore {
    let cfg = t.config.clone().with_key_prefix(unique_prefix("bench"));
    KvStore::new(Arc::new(RedisBackend::open(cfg).await.expect("open")))
}

async fn big(t: &Target, reps: usize, rows_list: &[usize]) {
    for &rows in rows_list {
        let (keys, b) = batch(rows);
        let payload = (rows * FIELDS * CELL) as f64;
        let (mut put, mut get, mut mem) = (Vec::new(), Vec::new(), Vec::new());
        let (mut e1s, mut e1g, mut e4s, mut e4g) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let requests = (rows * FIELDS).max(10_000) / t.ports.len();
        for _ in 0..reps {
            flush(&t.ports);
            let (s, g) = engine_big(&t.ports, 1, requests);
            e1s.push(s);
            e1g.push(g);
            flush(&t.ports);
            let (s, g) = engine_big(&t.ports, 4, requests);
            e4s.push(s);
            e4g.push(g);
            flush(&t.ports);
            let kv = open(t).await;
            let before = used_memory(&t.ports);
            let t0 = Instant::now();
            kv.kv_batch_put(&keys, "p", Some(b.clone()), None)
                .await
                .expect("put");
            put.push(payload / t0.elapsed().as_secs_f64() / 1e9);
            mem.push((used_memory(&t.ports) - before) as f64 / payload);
            let t0 = Instant::now();
            let out = kv.kv_batch_get(&keys, "p", None).await.expect("get");
            get.push(payload / t0.elapsed().as_secs_f64() / 1e9);
            assert_eq!(out.num_rows(), rows);
            drop(out);
            kv.kv_clear(&keys, "p", None).await.expect("clear");
        }
        let (put, get) = (median(put), median(get));
        let (e1s, e1g, e4s, e4g) = (median(e1s), median(e1g), median(e4s), median(e4g));
        println!(
            "{rows}x{FIELDS}x{SEQ}: put {put:.2} GB/s get {get:.2} GB/s | engine c1 SET {e1s:.2} \
             GET {e1g:.2} c4 SET {e4s:.2} GET {e4g:.2} | put/c1 {:.2} get/c1 {:.2} put/c4 {:.2} \
             get/c4 {:.2} | used_memory/payload {:.2}",
            put / e1s,
            get / e1g,
            put / e4s,
            get / e4g,
            median(mem)
        );
    }
}

async fn small(t: &Target, reps: usize) {
    const OPS: usize = 2000;
    let cell = Tensor::from_vec(vec![1.5f32; SEQ], [SEQ]).expect("tensor");
    for _ in 0..reps {
        flush(&t.ports);
        let e1 = engine(
            &t.ports[..1],
            &[
                "-t", "set,get", "-d", "32768", "-P", "1", "-c", "1", "-n", "5000",
            ],
        );
        let e16 = engine(
            &t.ports[..1],
            &[
                "-t", "set,get", "-d", "32768", "-P", "1", "-c", "16", "-n", "20000",
            ],
        );
        flush(&t.ports);
        let kv = Arc::new(open(t).await);
        let mut line = String::new();
        for tasks in [1usize, 16] {
            let run = |get: bool| {
                let kv = kv.clone();
                let cell = cell.clone();
                async move {
                    let t0 = Instant::now();
                    let handles: Vec<_> = (0..tasks)
                        .map(|task| {
                            let kv = kv.clone();
                            let cell = cell.clone();
                            tokio::spawn(async move {
                                for i in 0..OPS / tasks {
                                    let key = format!("k{task}_{}", i % 64);
                                    if get {
                                        kv.kv_batch_get(&[key.as_str()], "p", None)
                                            .await
                                            .expect("get");
                                    } else {
                                        let row = Row::new().with("f", cell.clone());
                                        kv.kv_put(&key, "p", Some(row), None).await.expect("put");
                                    }
                                }
                            })
                        })
                        .collect();
                    for h in handles {
                        h.await.expect("task");
                    }
                    (OPS / tasks * tasks) as f64 / t0.elapsed().as_secs_f64()
                }
            };
            let put = run(false).await;
            let get = run(true).await;
            let (es, eg) = if tasks == 1 { e1 } else { e16 };
            line.push_str(&format!(
                "tasks {tasks}: put {put:.0}/s get {get:.0}/s engine SET {es:.0} GET {eg:.0} \
                 ratio put {:.2} get {:.2} | ",
                put / es,
                get / eg
            ));
        }
        println!("{line}");
    }
}

async fn list(t: &Target, reps: usize) {
    let kv = open(t).await;
    let keys: Vec<String> = (0..16).map(|i| format!("k{i}")).collect();
    kv.kv_batch_put(&keys, "p", None, Some(vec![tq_core::Tag::new(); 16]))
        .await
        .expect("put");
    let fresh = time_list(&kv, reps).await;
    for i in 0..10_000 {
        let k = format!("churn{i}");
        kv.kv_put(&k, "q", None, Some(tq_core::Tag::new()))
            .await
            .expect("put");
        kv.kv_clear(&[k.as_str()], "q", None).await.expect("clear");
    }
    let after = time_list(&kv, reps).await;
    println!(
        "kv_list 16 keys: fresh {fresh:.0} us, after 10,000 put+clear {after:.0} us, ratio {:.2}",
        after / fresh
    );
}

async fn time_list(kv: &KvStore, reps: usize) -> f64 {
    let mut v = Vec::new();
    for _ in 0..reps.max(5) {
        let t0 = Instant::now();
        let l = kv.kv_list(Some("p")).await.expect("list");
        assert_eq!(l["p"].len(), 16);
        v.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    median(v)
}

/// Put once, then time `reps` gets and puts (for profiling).
async fn getloop(t: &Target, reps: usize, rows: usize) {
    let (keys, b) = batch(rows);
    let payload = (rows * FIELDS * CELL) as f64;
    let kv = open(t).await;
    for _ in 0..reps {
        let t0 = Instant::now();
        kv.kv_batch_put(&keys, "p", Some(b.clone()), None)
            .await
            .expect("put");
        let p = payload / t0.elapsed().as_secs_f64() / 1e9;
        let t0 = Instant::now();
        let out = kv.kv_batch_get(&keys, "p", None).await.expect("get");
        let g = payload / t0.elapsed().as_secs_f64() / 1e9;
        drop(out);
        println!("put {p:.2} GB/s get {g:.2} GB/s");
    }
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn rss(t: &Target) {
    let rows = 1024;
    let (keys, b) = batch(rows);
    let payload = (rows * FIELDS * CELL) as f64;
    let kv = open(t).await;
    let base = vm_hwm_kb();
    kv.kv_batch_put(&keys, "p", Some(b.clone()), None)
        .await
        .expect("put");
    let after_put = vm_hwm_kb();
    let out = kv.kv_batch_get(&keys, "p", None).await.expect("get");
    let after_get = vm_hwm_kb();
    drop(out);
    println!(
        "peak RSS: {:.2}x payload (payload resident: {:.2}x, after put {:.2}x)",
        after_get as f64 * 1024.0 / payload,
        base as f64 * 1024.0 / payload,
        after_put as f64 * 1024.0 / payload
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cluster = args.first().is_some_and(|a| a == "cluster");
    let what = args.get(1).cloned().unwrap_or_else(|| "big".into());
    let reps: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let mut rows: Vec<usize> = args.iter().skip(3).filter_map(|a| a.parse().ok()).collect();
    if rows.is_empty() {
        rows = vec![256, 1024];
    }
    let t = start(cluster);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        match what.as_str() {
            "small" => small(&t, reps).await,
            "list" => list(&t, reps).await,
            "rss" => rss(&t).await,
            "getloop" => getloop(&t, reps, rows[0]).await,
            _ => big(&t, reps, &rows).await,
        }
    });
    std::thread::sleep(Duration::from_millis(10));
}
