//! The connection to a standalone server or a cluster, and the pipelined
//! execution every operation goes through.

use std::collections::BTreeMap;

use futures::future::join_all;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, IntoConnectionInfo, Pipeline, RedisResult, ServerErrorKind, Value};
use tq_core::{Error, Result};

use crate::config::{RedisConfig, redact_url};
use crate::error::from_redis;

/// How many times a reconnect is attempted before a call fails (the next
/// call tries again).
const RECONNECT_RETRIES: usize = 2;

/// A connection handle; cheap to clone, reconnects by itself.
#[derive(Clone)]
pub enum Conn {
    /// A standalone server, through a reconnecting multiplexed connection.
    Single(ConnectionManager),
    /// A Redis Cluster, through redis-rs's cluster connection (follows
    /// `MOVED`/`ASK`, refreshes its slot map, reconnects).
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Single(_) => "Conn::Single",
            Conn::Cluster(_) => "Conn::Cluster",
        })
    }
}

impl Conn {
    /// Connects as `config` says (validated already).
    pub async fn open(config: &RedisConfig) -> Result<Conn> {
        const OP: &str = "redis::open";
        if config.uses_tls() {
            // redis-rs uses rustls; make sure a process-wide crypto provider
            // exists (an error means one is installed already).
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        if let Some(url) = &config.url {
            let bad_url = |e: redis::RedisError| {
                Error::config(format!("cannot parse `url` {:?}", redact_url(url)))
                    .with_operation(OP)
                    .with_context("setting", "url")
                    .with_source(e)
            };
            let mut info = url.as_str().into_connection_info().map_err(bad_url)?;
            let mut settings = info.redis_settings().clone();
            if let Some(user) = &config.username {
                settings = settings.set_username(user);
            }
            if let Some(pw) = &config.password {
                settings = settings.set_password(pw);
            }
            info = info.set_redis_settings(settings);
            let client = redis::Client::open(info).map_err(bad_url)?;
            let manager_config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(config.connect_timeout()))
                .set_response_timeout(config.command_timeout())
                .set_number_of_retries(RECONNECT_RETRIES);
            let manager = client
                .get_connection_manager_with_config(manager_config)
                .await
                .map_err(|e| from_redis(e, OP).with_context("url", redact_url(url)))?;
            Ok(Conn::Single(manager))
        } else {
            let nodes: Vec<String> = config.cluster_nodes.clone();
            let mut builder = ClusterClientBuilder::new(nodes.iter().map(String::as_str))
                .connection_timeout(config.connect_timeout())
                .retries(RECONNECT_RETRIES as u32);
            if let Some(t) = config.command_timeout() {
                builder = builder.response_timeout(t);
            }
            if let Some(user) = &config.username {
                builder = builder.username(user);
            }
            if let Some(pw) = &config.password {
                builder = builder.password(pw);
            }
            let client = builder.build().map_err(|e| {
                Error::config("cannot use `cluster_nodes`")
                    .with_operation(OP)
                    .with_context("setting", "cluster_nodes")
                    .with_source(e)
            })?;
            let conn = client.get_async_connection().await.map_err(|e| {
                from_redis(e, OP).with_context(
                    "cluster_nodes",
                    nodes
                        .iter()
                        .map(|u| redact_url(u))
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })?;
            Ok(Conn::Cluster(conn))
        }
    }

    /// Whether this is a cluster connection.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    /// Runs one command.
    pub async fn query(&self, cmd: &Cmd) -> RedisResult<Value> {
        match self.clone() {
            Conn::Single(mut c) => cmd.query_async(&mut c).await,
            Conn::Cluster(mut c) => cmd.query_async(&mut c).await,
        }
    }

    /// Runs a pipeline; per-command server errors come back in place.
    async fn pipeline(&self, pipe: &Pipeline) -> RedisResult<Vec<RedisResult<Value>>> {
        match self.clone() {
            Conn::Single(mut c) => pipe.query_async(&mut c).await,
            Conn::Cluster(mut c) => pipe.query_async(&mut c).await,
        }
    }

    /// Runs one script command per item and returns the answers in item
    /// order, with as few round trips as the server allows:
    ///
    /// - standalone: every command in one pipeline (one round trip);
    /// - cluster: one pipeline per bucket (each bucket is one hash slot),
    ///   all in flight at once (one round trip of latency).
    ///
    /// `build(i, by_text)` builds item `i`'s command (`EVALSHA`, or `EVAL`
    /// with `by_text`). Items the server answers with `NOSCRIPT` are sent
    /// once more as `EVAL` (one more round trip, after a server restart).
    /// A server error on an item becomes this call's error; a connection
    /// error fails the call (items already executed stay executed).
    pub async fn run_items<F>(
        &self,
        buckets: &[u16],
        build: F,
        op: &'static str,
    ) -> Result<Vec<Value>>
    where
        F: Fn(usize, bool) -> Cmd,
    {
        let mut results: Vec<Option<Value>> = vec![None; buckets.len()];
        let mut pending: Vec<usize> = (0..buckets.len()).collect();
        let mut by_text = false;
        while !pending.is_empty() {
            let groups: Vec<Vec<usize>> = if self.is_cluster() {
                let mut by_bucket: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
                for &i in &pending {
                    by_bucket.entry(buckets[i]).or_default().push(i);
                }
                by_bucket.into_values().collect()
            } else {
                vec![pending.clone()]
            };
            let answers = join_all(groups.iter().map(|group| {
                let mut pipe = redis::pipe();
                pipe.ignore_errors();
                for &i in group {
                    pipe.add_command(build(i, by_text));
                }
                async move { self.pipeline(&pipe).await }
            }))
            .await;
            let mut again = Vec::new();
            for (group, answer) in groups.iter().zip(answers) {
                let answer = answer.map_err(|e| from_redis(e, op))?;
                if answer.len() != group.len() {
                    return Err(crate::error::bad_reply(
                        &format!("{} answers for {} commands", answer.len(), group.len()),
                        op,
                    ));
                }
                for (&i, item) in group.iter().zip(answer) {
                    match item {
                        Ok(v) => results[i] = Some(v),
                        Err(e)
                            if !by_text
                                && e.kind()
                                    == redis::ErrorKind::Server(ServerErrorKind::NoScript) =>
                        {
                            again.push(i)
                        }
                        Err(e) => return Err(from_redis(e, op)),
                    }
                }
            }
            pending = again;
            by_text = true;
        }
        results
            .into_iter()
            .map(|v| v.ok_or_else(|| crate::error::bad_reply("a command got no answer", op)))
            .collect()
    }

    /// A numeric server setting (`CONFIG GET name`), or `None` when the
    /// server does not say (CONFIG disabled, unexpected answer).
    pub async fn config_number(&self, name: &str) -> Option<u64> {
        let value = self
            .query(redis::cmd("CONFIG").arg("GET").arg(name))
            .await
            .ok()?;
        find_number(&value)
    }
}

/// The first integer-looking bulk string after a name in a `CONFIG GET`
/// answer of any shape (array, map, per-node map in cluster mode).
fn find_number(value: &Value) -> Option<u64> {
    match value {
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::Array(items) | Value::Set(items) => items.iter().skip(1).find_map(find_number),
        Value::Map(pairs) => pairs.iter().find_map(|(_, v)| find_number(v)),
        _ => None,
    }
}
