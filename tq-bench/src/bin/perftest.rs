//! perftest: the Python TransferQueue perftest in Rust, with raw baselines.
//!
//! Each iteration is PUT (kv_batch_put) -> LIST (kv_list) -> GET
//! (kv_batch_get, all fields) -> DELETE (kv_clear) of float32 fields of shape
//! (batch, seq_len); the same iteration first measures the baselines on the
//! same bytes. See BENCHMARKS.md.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tq_bench::{BackendSpec, Options, Shape};

/// Throughput of the kv_* API against raw baselines measured in the same run.
///
/// Each iteration: baselines (memcpy of the payload into a touched buffer,
/// into a fresh buffer with and without MADV_HUGEPAGE; the raw rocksdb or
/// redis crate writing, reading and deleting the same bytes; for redis also
/// the engine itself, redis-benchmark against the same server(s) at the
/// workload's cell size, -P 16 with -c 1 and -c 4), then PUT
/// (kv_batch_put) -> LIST (kv_list) -> GET (kv_batch_get of the listed keys,
/// all fields) -> DELETE (kv_clear) of float32 fields of shape (batch,
/// seq_len). Then single-key small ops, from one task and from many, the
/// wake-up latency of kv_wait after a kv_put (p50/p99 over --wake-ups
/// rounds), and (for the memory backend) the stored bookkeeping per cell of
/// 100,000 tiny rows.
/// Figures are medians over the iterations; ratios are medians of
/// per-iteration ratios (time / baseline time).
#[derive(Debug, Parser)]
#[command(name = "perftest", version)]
struct Args {
    /// Backends to measure, comma separated: memory, rocksdb (feature
    /// `rocksdb`), redis, redis-cluster (feature `redis`).
    #[arg(long, value_delimiter = ',', default_value = "memory")]
    backend: Vec<BackendSpec>,
    /// Run the redis backend against a 3-master Redis Cluster started on
    /// 127.0.0.1 for the run (as `--backend redis-cluster`).
    #[arg(long, conflicts_with = "redis_url")]
    redis_cluster: bool,
    /// A tq-facade TOML config file selecting the backend and its settings
    /// (instead of --backend).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Rows per put (the Python perftest's global batch size).
    #[arg(long, default_value_t = 1024)]
    batch: usize,
    /// Float32 fields per row.
    #[arg(long, default_value_t = 9)]
    fields: usize,
    /// Elements per row (the longest row in the jagged case).
    #[arg(long, default_value_t = 8192)]
    seq_len: usize,
    /// Timed iterations per workload (medians are over these).
    #[arg(long, default_value_t = 5)]
    iterations: usize,
    /// Untimed warm-up iterations before them.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Also run the jagged case: row lengths run linearly from 1 to seq_len.
    #[arg(long)]
    jagged: bool,
    /// Run only the jagged case.
    #[arg(long, conflicts_with = "jagged")]
    only_jagged: bool,
    /// Single-key operations per small-op round on the memory backend (0 skips).
    #[arg(long, default_value_t = 100_000)]
    small_ops: usize,
    /// Single-key operations per small-op round on rocksdb and redis (0 skips).
    #[arg(long, default_value_t = 2_000)]
    small_ops_remote: usize,
    /// Concurrent tasks in the memory backend's small-op workload.
    #[arg(long, default_value_t = 64)]
    tasks: usize,
    /// Concurrent tasks in the rocksdb and redis small-op workload (redis:
    /// against `redis-benchmark -P 1 -c <N>`).
    #[arg(long, default_value_t = 16)]
    tasks_remote: usize,
    /// Float32 elements of the tiny row (small ops and the overhead probe).
    #[arg(long, default_value_t = 4)]
    tiny_len: usize,
    /// Rows of the stored-overhead probe on the memory backend (0 skips).
    #[arg(long, default_value_t = 100_000)]
    overhead_rows: usize,
    /// Time kv_list of a 16-key partition on a fresh store of each backend,
    /// then again after this many put + clear cycles of other keys in the
    /// same partition (0 skips).
    #[arg(long, default_value_t = 0, value_name = "CYCLES")]
    list_churn: usize,
    /// Wake-up case: rounds of kv_wait on a fresh key woken by a kv_put
    /// from another task (Redis: another process), with p50/p99 against a
    /// tokio Notify wake-up (Redis: a PING round trip) (0 skips).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    wake_ups: usize,
    /// Use this Redis server (redis://host:port/) instead of starting a
    /// redis-server on a random 127.0.0.1 port. The engine baseline runs
    /// redis-benchmark against it too (keys `key:*`, removed afterwards).
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,
    /// Seconds each redis-benchmark invocation (SET + GET tests) should
    /// take; requests are sized from a short probe run.
    #[arg(long, default_value_t = 2.0)]
    engine_secs: f64,
    /// Requests per redis-benchmark test (-n), instead of sizing by time.
    #[arg(long, value_name = "N")]
    engine_requests: Option<usize>,
    /// Directory for the RocksDB stores (a temporary directory inside it).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// sync_writes for the RocksDB backend and the raw RocksDB baseline.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    rocksdb_sync: bool,
    /// Skip the checkpoint case (memory backend: save the batch's partition
    /// to a file:// directory and load it into a fresh memory store,
    /// against std::fs writing and reading files of the same sizes).
    #[arg(long)]
    no_checkpoint: bool,
    /// Peak RSS of saving and loading a memory store of at least this many
    /// GB (10^9 bytes; the batch in as many partitions); 0 skips.
    #[arg(long, default_value_t = 0.0, value_name = "GB")]
    checkpoint_memory_gb: f64,
    /// Skip comparing every byte a get returns (done outside the timer).
    #[arg(long)]
    no_verify: bool,
    /// No progress bar on stderr.
    #[arg(long)]
    no_progress: bool,
    /// Print the report as JSON on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// For rocksdb and redis: pause (ms) between the raw baseline and the
    /// backend's operations so background work settles; their order
    /// alternates between iterations.
    #[arg(long, default_value_t = 1000)]
    settle_ms: u64,
    /// Internal: the Redis memory probe's own process (a JSON request).
    #[arg(long, hide = true, value_name = "JSON")]
    memory_probe_child: Option<String>,
    /// Internal: the wake-up case's putter process (a JSON request).
    #[arg(long, hide = true, value_name = "JSON")]
    wake_putter_child: Option<String>,
    /// Worker threads of the Tokio runtime (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let dense = Shape {
        batch: args.batch,
        fields: args.fields,
        seq_len: args.seq_len,
        jagged: false,
    };
    let jagged = Shape {
        jagged: true,
        ..dense
    };
    let shapes = if args.only_jagged {
        vec![jagged]
    } else if args.jagged {
        vec![dense, jagged]
    } else {
        vec![dense]
    };
    let backends = match &args.config {
        Some(path) => vec![BackendSpec::ConfigFile(path.clone())],
        None if args.redis_cluster => args
            .backend
            .iter()
            .map(|b| match b {
                BackendSpec::Redis => BackendSpec::RedisCluster,
                other => other.clone(),
            })
            .collect(),
        None => args.backend.clone(),
    };
    let engine_secs = if args.engine_secs.is_finite() && args.engine_secs > 0.0 {
        args.engine_secs
    } else {
        eprintln!("perftest: --engine-secs must be a positive number of seconds");
        return ExitCode::FAILURE;
    };
    let checkpoint_memory_bytes =
        if args.checkpoint_memory_gb.is_finite() && args.checkpoint_memory_gb >= 0.0 {
            (args.checkpoint_memory_gb * 1e9) as u64
        } else {
            eprintln!("perftest: --checkpoint-memory-gb must be a number of GB, 0 or more");
            return ExitCode::FAILURE;
        };
    let opts = Options {
        backends,
        shapes,
        iterations: args.iterations.max(1),
        warmup: args.warmup,
        small_ops: args.small_ops,
        small_ops_remote: args.small_ops_remote,
        tasks: args.tasks,
        tasks_remote: args.tasks_remote.max(1),
        tiny_len: args.tiny_len.max(1),
        overhead_rows: args.overhead_rows,
        list_churn: args.list_churn,
        wake_ups: args.wake_ups,
        redis_url: args.redis_url.clone(),
        engine_secs,
        engine_requests: args.engine_requests.map(|n| n.max(1)),
        probe_exe: std::env::current_exe().ok(),
        data_dir: args.data_dir.clone(),
        rocksdb_sync: args.rocksdb_sync,
        checkpoint: !args.no_checkpoint,
        checkpoint_memory_bytes,
        verify: !args.no_verify,
        progress: !args.no_progress,
        settle: std::time::Duration::from_millis(args.settle_ms),
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("perftest: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(request) = &args.memory_probe_child {
        return memory_probe_child(&rt, request);
    }
    if let Some(request) = &args.wake_putter_child {
        return wake_putter_child(&rt, request);
    }
    let report = match rt.block_on(tq_bench::run(&opts)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("perftest: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("perftest: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!(
            "perftest: {} iteration(s) (+{} warm-up) per workload; medians; ratio = median of per-iteration (time / baseline time)",
            opts.iterations, opts.warmup
        );
        print!("{}", report.table());
    }
    ExitCode::SUCCESS
}

/// `--memory-probe-child`: measures and prints the figure as JSON.
#[cfg(feature = "redis")]
fn memory_probe_child(rt: &tokio::runtime::Runtime, request: &str) -> ExitCode {
    let figure = rt.block_on(tq_bench::memory_child::child_main(request));
    match figure.and_then(|f| serde_json::to_string(&f).map_err(|e| e.to_string())) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("perftest --memory-probe-child: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "redis"))]
fn memory_probe_child(_: &tokio::runtime::Runtime, _: &str) -> ExitCode {
    eprintln!("perftest --memory-probe-child: built without the `redis` feature");
    ExitCode::FAILURE
}

/// `--wake-putter-child`: puts a row per key read on stdin.
#[cfg(feature = "redis")]
fn wake_putter_child(rt: &tokio::runtime::Runtime, request: &str) -> ExitCode {
    match tq_bench::wake_child::child_main(rt, request) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("perftest --wake-putter-child: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "redis"))]
fn wake_putter_child(_: &tokio::runtime::Runtime, _: &str) -> ExitCode {
    eprintln!("perftest --wake-putter-child: built without the `redis` feature");
    ExitCode::FAILURE
}
