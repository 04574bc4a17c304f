//! Opening the backends perftest measures: RocksDB in a temporary
//! directory, Redis on a redis-server or a 3-master Redis Cluster started
//! for the run (or at `--redis-url`), each with its raw baseline and, for
//! Redis, the servers the engine baseline and INFO memory talk to.

use std::path::PathBuf;

use tq_facade::{Config, TransferQueue};

#[cfg(any(feature = "rocksdb", feature = "redis"))]
use crate::baseline;
#[cfg(feature = "redis")]
use crate::redis_nodes::RedisTarget;
use crate::run::Options;

/// Which backend to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendSpec {
    /// The embedded in-memory backend.
    Memory,
    /// RocksDB in a temporary directory (feature `rocksdb`).
    RocksDb,
    /// Redis: `--redis-url`, or a redis-server started for the run (feature `redis`).
    Redis,
    /// Redis Cluster: 3 masters on 127.0.0.1 started for the run (feature `redis`).
    RedisCluster,
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
            "redis-cluster" => Ok(BackendSpec::RedisCluster),
            other => Err(format!(
                "unknown backend `{other}` (memory, rocksdb, redis, redis-cluster; or use --config FILE)"
            )),
        }
    }
}

/// Raw-crate baselines for a backend.
pub(crate) enum Raw {
    None,
    #[cfg(feature = "rocksdb")]
    RocksDb(baseline::RawRocksDb),
    #[cfg(feature = "redis")]
    Redis(baseline::RawRedis),
}

/// An opened backend with what must live as long as it (a temporary
/// directory, a redis-server, a cluster).
pub struct Opened {
    /// The backend's name (`redis-cluster` for the cluster).
    pub name: String,
    /// The queue over it.
    pub tq: TransferQueue,
    pub(crate) raw: Raw,
    pub(crate) remote: bool,
    /// Redis: the servers behind the store.
    #[cfg(feature = "redis")]
    pub redis: Option<RedisTarget>,
    spec: BackendSpec,
    _guards: Vec<Box<dyn std::any::Any>>,
}

#[cfg(any(feature = "rocksdb", feature = "redis"))]
fn table(pairs: &[(&str, toml::Value)]) -> toml::Table {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn open_err(e: tq_facade::Error) -> String {
    format!("cannot open the backend: {e}")
}

/// Opens `spec` as [`crate::run`] does (RocksDB in a temporary directory,
/// Redis on a server or cluster started for the purpose unless
/// `opts.redis_url` is set), with its raw baseline.
pub async fn open(spec: &BackendSpec, opts: &Options) -> Result<Opened, String> {
    match spec {
        BackendSpec::Memory => Ok(Opened {
            name: "memory".into(),
            tq: TransferQueue::open(Config::new("memory"))
                .await
                .map_err(open_err)?,
            raw: Raw::None,
            remote: false,
            #[cfg(feature = "redis")]
            redis: None,
            spec: spec.clone(),
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
                #[cfg(feature = "redis")]
                redis: None,
                spec: spec.clone(),
                _guards: vec![Box::new(dir)],
            })
        }
        #[cfg(feature = "redis")]
        BackendSpec::Redis => {
            crate::engine::check_installed()?;
            let mut guards: Vec<Box<dyn std::any::Any>> = Vec::new();
            let url = match &opts.redis_url {
                Some(url) => url.clone(),
                None => {
                    let server = tq_test_support::RedisServer::start()
                        .map_err(|e| format!("{e} (or pass --redis-url)"))?;
                    let url = server.url();
                    guards.push(Box::new(server));
                    url
                }
            };
            let target = RedisTarget::standalone(&url);
            open_redis("redis", spec, target, "tqbench", guards, true).await
        }
        #[cfg(feature = "redis")]
        BackendSpec::RedisCluster => {
            crate::engine::check_installed()?;
            let cluster = tokio::task::spawn_blocking(|| tq_test_support::RedisCluster::start(3))
                .await
                .map_err(|e| format!("cluster start task: {e}"))??;
            let target = RedisTarget::cluster(&cluster.urls()).await?;
            let guards: Vec<Box<dyn std::any::Any>> = vec![Box::new(cluster)];
            open_redis("redis-cluster", spec, target, "tqbench", guards, true).await
        }
        #[cfg(not(feature = "rocksdb"))]
        BackendSpec::RocksDb => {
            Err("this perftest was built without RocksDB: rebuild with --features rocksdb".into())
        }
        #[cfg(not(feature = "redis"))]
        BackendSpec::Redis | BackendSpec::RedisCluster => {
            Err("this perftest was built without Redis: rebuild with --features redis".into())
        }
        BackendSpec::ConfigFile(path) => {
            let config = Config::from_file(path).map_err(|e| e.to_string())?;
            let name = config.backend().to_owned();
            let (raw, guards) = raw_for_config(&config, opts).await?;
            #[cfg(feature = "redis")]
            let redis = match (&raw, redis_url_of(&config)) {
                (Raw::Redis(_), Some(url)) => {
                    crate::engine::check_installed()?;
                    Some(RedisTarget::standalone(&url))
                }
                _ => None,
            };
            let remote = name != "memory";
            let tq = TransferQueue::open(config).await.map_err(open_err)?;
            Ok(Opened {
                name,
                tq,
                raw,
                remote,
                #[cfg(feature = "redis")]
                redis,
                spec: spec.clone(),
                _guards: guards,
            })
        }
    }
}

/// A fresh store of the same kind as `b`: a new memory store, RocksDB in a
/// new directory, or a new key prefix on the same Redis servers. A config
/// file's store is opened again as configured.
pub async fn open_fresh(b: &Opened, opts: &Options) -> Result<Opened, String> {
    #[cfg(feature = "redis")]
    if let (BackendSpec::Redis | BackendSpec::RedisCluster, Some(target)) = (&b.spec, &b.redis) {
        use std::sync::atomic::{AtomicU64, Ordering};
        static FRESH: AtomicU64 = AtomicU64::new(0);
        let prefix = format!(
            "tqbench-fresh-{}-{}",
            std::process::id(),
            FRESH.fetch_add(1, Ordering::Relaxed)
        );
        return open_redis(&b.name, &b.spec, target.clone(), &prefix, Vec::new(), false).await;
    }
    open(&b.spec, opts).await
}

#[cfg(feature = "redis")]
fn redis_url_of(config: &Config) -> Option<String> {
    config
        .settings("redis")
        .and_then(|s| s.get("url"))
        .and_then(|u| u.as_str())
        .map(str::to_owned)
}

/// The facade config of the Redis backend on `target` under `prefix`.
#[cfg(feature = "redis")]
pub fn redis_config(target: &RedisTarget, prefix: &str) -> Config {
    let server = if target.cluster {
        let urls = target
            .nodes
            .iter()
            .map(|n| toml::Value::String(n.url.clone()))
            .collect();
        ("cluster_nodes", toml::Value::Array(urls))
    } else {
        let url = target.nodes.first().map(|n| n.url.clone());
        ("url", toml::Value::String(url.unwrap_or_default()))
    };
    Config::new("redis").with_settings(
        "redis",
        table(&[server, ("key_prefix", toml::Value::String(prefix.into()))]),
    )
}

/// The Redis backend on `target` under `prefix`, with the raw crate's
/// baseline on the same servers when `with_raw`.
#[cfg(feature = "redis")]
async fn open_redis(
    name: &str,
    spec: &BackendSpec,
    target: RedisTarget,
    prefix: &str,
    guards: Vec<Box<dyn std::any::Any>>,
    with_raw: bool,
) -> Result<Opened, String> {
    let config = redis_config(&target, prefix);
    let tq = TransferQueue::open(config).await.map_err(open_err)?;
    let raw = if with_raw {
        Raw::Redis(baseline::RawRedis::connect_to(&target).await?)
    } else {
        Raw::None
    };
    Ok(Opened {
        name: name.into(),
        tq,
        raw,
        remote: true,
        redis: Some(target),
        spec: spec.clone(),
        _guards: guards,
    })
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
        "redis" => match redis_url_of(config) {
            Some(url) => Ok((
                Raw::Redis(baseline::RawRedis::connect(&url).await?),
                Vec::new(),
            )),
            None => Ok((Raw::None, Vec::new())),
        },
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
