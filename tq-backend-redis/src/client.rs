//! The connection to a standalone server or a cluster, and the pipelined
//! execution every operation goes through.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::join_all;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{
    MultipleNodeRoutingInfo, Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr,
};
use redis::{
    Cmd, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Pipeline, RedisResult,
    ServerErrorKind, Value,
};
use tq_core::{Error, Result};

use crate::config::{RedisConfig, redact_url};
use crate::direct::Direct;
use crate::error::from_redis;
use crate::slots::{SlotMap, parse_cluster_slots, slot_of_bucket, slot_of_key};
use crate::wire::Command;

/// How many times a reconnect is attempted before a call fails (the next
/// call tries again).
const RECONNECT_RETRIES: usize = 2;

/// A pipeline carrying more bytes than this is split over several
/// connections, so that encoding, the kernel's copies and the reply
/// parsing of one large batch run on several cores (each unit, and so
/// each row's transaction, stays whole on one connection).
pub const SPLIT_BYTES: usize = 16 << 20;
/// A pipeline of at least this many bytes always takes a direct
/// connection (its payload is written from the caller's buffers) ...
const DIRECT_BYTES: usize = 1 << 20;
/// ... and so does one of at least this many commands (a large get: small
/// request, large replies, read into their final buffers).
const DIRECT_COMMANDS: usize = 16;
/// Smaller pipelines (single-row puts and gets) take a direct connection
/// while fewer than this many of them are in flight, and redis-rs'
/// multiplexed connection beyond: one task's round trip is shorter on a
/// connection of its own (16 B rows: put 2.17x the engine's time against
/// 2.67x, get 1.33x against 1.94x), but many tasks' small requests are
/// cheaper pipelined together on one socket (16 tasks all direct: put 2.0x
/// against 1.3x-1.6x through redis-rs). See BENCHMARKS.md.
const SMALL_DIRECT: usize = 2;
/// A pipeline is also split into one part per this many items: a get's
/// replies, not its request, are what is large (256 rows of 9 x 32 KiB:
/// 164 -> 134 ms). Split by count, the parts of one call's pipelines
/// together take at most [`MAX_SPLIT`] connections, whatever the number of
/// masters: their replies are read by this process, whose cores they
/// share (a cluster get of 1024 such rows from 3 masters: 141 ms over 4
/// connections per master, 110 ms over 1; BENCHMARKS.md).
pub const SPLIT_ITEMS: usize = 64;
/// The most connections one pipeline is split over. Split by bytes (a
/// put's payload, which each master parses on a core of its own), every
/// master's pipeline may take this many.
const MAX_SPLIT: usize = 4;

/// The transport underneath a [`Conn`].
#[derive(Clone)]
enum Inner {
    /// A standalone server, through a reconnecting multiplexed connection.
    Single(ConnectionManager),
    /// A Redis Cluster, through redis-rs's cluster connection (follows
    /// `MOVED`/`ASK`, refreshes its slot map, reconnects).
    Cluster(ClusterConnection),
}

/// A connection handle; cheap to clone, reconnects by itself.
#[derive(Clone)]
pub struct Conn {
    inner: Inner,
    /// Cluster only: slot -> master number, fetched lazily, dropped when a
    /// command was redirected.
    slot_map: Arc<Mutex<Option<Arc<SlotMap>>>>,
    /// Cluster only: commands that reached the wrong master and were sent
    /// again through per-slot routing.
    redirected: Arc<AtomicU64>,
    /// Plain TCP: the data path's own connections (see [`crate::direct`]);
    /// `None` for TLS, where everything goes through redis-rs.
    direct: Option<Arc<Direct>>,
    /// Standalone: the server's `host:port` for `direct`.
    addr: Option<String>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.inner {
            Inner::Single(_) => "Conn::Single",
            Inner::Cluster(_) => "Conn::Cluster",
        })
    }
}

/// Whether the items of one call must run in their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// One pipeline per master, run in item order: a standalone put whose
    /// rows take their sequence numbers as they run.
    Kept,
    /// A large pipeline may be split over several connections, whose items
    /// then interleave (reads, clears, and puts with reserved sequences).
    Free,
}

/// What one item sends.
pub enum Unit {
    /// One command; the item's answer is its reply.
    Cmd(Command),
    /// `MULTI`, these commands, `EXEC`: all of them run, back to back, or
    /// (when the server refuses one while queueing it: `MOVED`, `OOM`, ...)
    /// none. The item's answer is the last command's reply. Every command
    /// must name keys of one slot only, and scripts must be sent as `EVAL`:
    /// a `NOSCRIPT` shows only at `EXEC`, after the other commands ran.
    Tx(Vec<Command>),
    /// As [`Tx`](Self::Tx), but the item's answer is an array of every
    /// queued command's reply: several reads at one instant.
    TxAll(Vec<Command>),
    /// Reads sent back to back on one connection (so they run in this
    /// order, with nothing of this call in between), without `MULTI`: a
    /// server out of memory refuses every command queued in a `MULTI`,
    /// reads included. The item's answer is an array of every reply; an
    /// error of any of them is the item's error, as not run (reads are
    /// safe to send again).
    Reads(Vec<Command>),
}

/// How many replies one item's unit produces, and which is its answer.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// One command.
    Cmd,
    /// `MULTI`, `queued` commands, `EXEC`; `all`: [`Unit::TxAll`].
    Tx { queued: usize, all: bool },
    /// [`Unit::Reads`] of `n` commands.
    Reads { n: usize },
}

impl Shape {
    fn of(unit: &Unit) -> Shape {
        match unit {
            Unit::Cmd(_) => Shape::Cmd,
            Unit::Tx(cmds) => Shape::Tx {
                queued: cmds.len(),
                all: false,
            },
            Unit::TxAll(cmds) => Shape::Tx {
                queued: cmds.len(),
                all: true,
            },
            Unit::Reads(cmds) => Shape::Reads { n: cmds.len() },
        }
    }

    /// The number of commands sent (and replies read).
    fn sent(self) -> usize {
        match self {
            Shape::Cmd => 1,
            Shape::Tx { queued, .. } => queued + 2,
            Shape::Reads { n } => n,
        }
    }
}

impl From<Command> for Unit {
    fn from(cmd: Command) -> Unit {
        Unit::Cmd(cmd)
    }
}

impl Unit {
    /// The unit's commands as sent: a transaction with `MULTI`/`EXEC`.
    fn into_commands(self) -> Vec<Command> {
        match self {
            Unit::Cmd(cmd) => vec![cmd],
            Unit::Reads(cmds) => cmds,
            Unit::Tx(cmds) | Unit::TxAll(cmds) => {
                let mut all = Vec::with_capacity(cmds.len() + 2);
                all.push(Command::new("MULTI"));
                all.extend(cmds);
                all.push(Command::new("EXEC"));
                all
            }
        }
    }
}

/// The `host:port` of a plain TCP address (`None`: TLS or Unix socket).
fn tcp_addr(info: &ConnectionInfo) -> Option<String> {
    match info.addr() {
        ConnectionAddr::Tcp(host, port) if host.contains(':') => Some(format!("[{host}]:{port}")),
        ConnectionAddr::Tcp(host, port) => Some(format!("{host}:{port}")),
        _ => None,
    }
}

/// The direct connections for `info`'s credentials and database, unless
/// the connection is TLS.
fn direct_for(config: &RedisConfig, info: &ConnectionInfo) -> Option<Arc<Direct>> {
    tcp_addr(info)?;
    let settings = info.redis_settings();
    Some(Arc::new(Direct::new(
        settings.username().map(str::to_owned),
        settings.password().map(str::to_owned),
        settings.db(),
        config.connect_timeout(),
        config.command_timeout(),
    )))
}

/// A redis-rs client for one server, as `config` reaches it: `url`'s
/// scheme, address and database with `config`'s credentials and CA
/// certificates; `at` (`host`, `port`) replaces the address (a cluster
/// master found in the slot map, reached like the seed node `url`), and
/// `protocol` the URL's protocol.
pub fn node_client(
    config: &RedisConfig,
    url: &str,
    at: Option<(&str, u16)>,
    protocol: Option<redis::ProtocolVersion>,
) -> Result<redis::Client> {
    const OP: &str = "redis::open";
    let setting = if config.is_cluster() {
        "cluster_nodes"
    } else {
        "url"
    };
    let bad_url = |e: redis::RedisError| {
        Error::config(format!("cannot parse `{setting}` {:?}", redact_url(url)))
            .with_operation(OP)
            .with_context("setting", setting)
            .with_source(e)
    };
    let mut info = url.into_connection_info().map_err(bad_url)?;
    let mut settings = info.redis_settings().clone();
    if let Some(user) = &config.username {
        settings = settings.set_username(user);
    }
    if let Some(pw) = &config.password {
        settings = settings.set_password(pw);
    }
    if let Some(protocol) = protocol {
        settings = settings.set_protocol(protocol);
    }
    info = info
        .set_redis_settings(settings)
        .set_tcp_settings(crate::keepalive::tcp_settings());
    if let Some((host, port)) = at {
        let addr = match info.addr().clone() {
            // A cluster that does not say a master's host: the seed's.
            ConnectionAddr::Tcp(seed, _) if host.is_empty() => ConnectionAddr::Tcp(seed, port),
            ConnectionAddr::TcpTls {
                host: seed,
                insecure,
                tls_params,
                ..
            } if host.is_empty() => ConnectionAddr::TcpTls {
                host: seed,
                port,
                insecure,
                tls_params,
            },
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host: host.to_owned(),
                port,
                insecure,
                tls_params,
            },
            _ => ConnectionAddr::Tcp(host.to_owned(), port),
        };
        info = info.set_addr(addr);
    }
    match config.tls_certificates()? {
        Some(certs) => redis::Client::build_with_tls(info, certs).map_err(|e| {
            let path = config.tls_ca_file.as_deref().unwrap_or(Path::new(""));
            Error::config(format!(
                "cannot use the CA certificates of `tls_ca_file` {:?}",
                path.display()
            ))
            .with_operation(OP)
            .with_context("setting", "tls_ca_file")
            .with_context("path", path.display().to_string())
            .with_source(e)
        }),
        None => redis::Client::open(info).map_err(bad_url),
    }
}

/// The outcome of one `MULTI` .. `EXEC` from its replies (`MULTI`, one per
/// queued command, `EXEC`): the last command's reply (with `all`, an array
/// of every command's reply), or the error that refused the transaction
/// (nothing ran: `false`) or the first one a command raised inside `EXEC`
/// (the transaction ran: `true`).
fn tx_outcome(
    replies: impl Iterator<Item = RedisResult<Value>>,
    all: bool,
) -> (RedisResult<Value>, bool) {
    let mut replies: Vec<RedisResult<Value>> = replies.collect();
    let exec = replies.pop();
    // MULTI and the queued commands answer OK / QUEUED, or the error that
    // refused one; EXEC then answers EXECABORT and nothing ran.
    if let Some(e) = replies.into_iter().find_map(Result::err) {
        return (Err(e), false);
    }
    match exec {
        Some(Ok(Value::Array(mut values))) => {
            if let Some(i) = values
                .iter()
                .position(|v| matches!(v, Value::ServerError(_)))
                && let Value::ServerError(e) = values.swap_remove(i)
            {
                return (Err(e.into()), true);
            }
            let answer = if all {
                Value::Array(values)
            } else {
                values.pop().unwrap_or(Value::Nil)
            };
            (Ok(answer), true)
        }
        Some(Err(e)) => (Err(e), false),
        other => (
            Err(redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "EXEC answered neither an array nor an error",
                format!("{other:?}"),
            ))),
            false,
        ),
    }
}

/// The outcome of one [`Unit::Reads`]: an array of its replies, or the
/// first error among them.
fn reads_outcome(replies: impl Iterator<Item = RedisResult<Value>>) -> RedisResult<Value> {
    replies
        .collect::<RedisResult<Vec<Value>>>()
        .map(Value::Array)
}

/// Why one item of [`Conn::run_items_each`] failed.
#[derive(Debug, Clone)]
pub struct ItemError {
    /// The client's or server's error.
    pub error: redis::RedisError,
    /// Whether the item ran: `Some(false)` refused without running (a plain
    /// command's error, or a transaction refused while queueing, e.g.
    /// `OOM`), `Some(true)` its transaction ran and a command inside `EXEC`
    /// failed, `None` unknown (the connection failed).
    pub ran: Option<bool>,
}

/// Items sent in one pipeline: to the master serving `Some(slot)`, or
/// through the client's own routing (`None`); over a direct connection to
/// `addr` when there is one.
struct Group {
    slot: Option<u16>,
    addr: Option<String>,
    items: Vec<(usize, Attempt)>,
}

/// A group ready to send: its commands, and per item the shape of its
/// unit (how many replies it reads, and which is its answer).
struct Built {
    slot: Option<u16>,
    addr: Option<String>,
    items: Vec<(usize, Attempt)>,
    shapes: Vec<Shape>,
    cmds: Vec<Command>,
}

impl Built {
    /// The number of replies expected.
    fn expected(&self) -> usize {
        self.shapes.iter().map(|s| s.sent()).sum()
    }

    /// Splits a large direct pipeline into up to [`MAX_SPLIT`] pipelines
    /// of about equal bytes, at unit boundaries: one per [`SPLIT_BYTES`],
    /// or one per [`SPLIT_ITEMS`] up to `by_count` parts.
    fn split(self, by_count: usize) -> Vec<Built> {
        let sizes: Vec<usize> = self.cmds.iter().map(Command::wire_len).collect();
        let total: usize = sizes.iter().sum();
        let parts = total
            .div_ceil(SPLIT_BYTES)
            .max((self.items.len() / SPLIT_ITEMS).min(by_count))
            .clamp(1, MAX_SPLIT);
        if self.addr.is_none() || parts == 1 || self.items.len() < 2 {
            return vec![self];
        }
        let share = total.div_ceil(parts);
        let mut out: Vec<Built> = Vec::with_capacity(parts);
        let mut cmds = self.cmds.into_iter();
        let mut size_of = sizes.into_iter();
        let mut current: Option<(Built, usize)> = None;
        for (item, shape) in self.items.into_iter().zip(self.shapes) {
            let n = shape.sent();
            let (built, bytes) = current.get_or_insert_with(|| {
                (
                    Built {
                        slot: self.slot,
                        addr: self.addr.clone(),
                        items: Vec::new(),
                        shapes: Vec::new(),
                        cmds: Vec::new(),
                    },
                    0,
                )
            });
            built.items.push(item);
            built.shapes.push(shape);
            built.cmds.extend(cmds.by_ref().take(n));
            *bytes += size_of.by_ref().take(n).sum::<usize>();
            if *bytes >= share && out.len() + 1 < parts {
                out.extend(current.take().map(|(b, _)| b));
            }
        }
        out.extend(current.map(|(b, _)| b));
        out
    }
}

/// How one item is sent on its next attempt.
#[derive(Clone, Copy)]
struct Attempt {
    /// `EVAL` with the script's text instead of `EVALSHA`.
    by_text: bool,
    /// Cluster: through the client's per-slot routing instead of the
    /// per-master pipeline.
    per_slot: bool,
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
            let client = node_client(config, url, None, None)?;
            let info = client.get_connection_info();
            let direct = direct_for(config, info);
            let addr = tcp_addr(info);
            let manager_config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(config.connect_timeout()))
                .set_response_timeout(config.command_timeout())
                .set_number_of_retries(RECONNECT_RETRIES);
            let manager = client
                .get_connection_manager_with_config(manager_config)
                .await
                .map_err(|e| from_redis(e, OP).with_context("url", redact_url(url)))?;
            let mut conn = Conn::new(Inner::Single(manager));
            conn.direct = direct;
            conn.addr = addr;
            Ok(conn)
        } else {
            let certs = config.tls_certificates()?;
            let nodes: Vec<String> = config.cluster_nodes.clone();
            let mut builder = ClusterClientBuilder::new(nodes.iter().map(String::as_str))
                .tcp_settings(crate::keepalive::tcp_settings())
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
            if let Some(certs) = certs {
                builder = builder.certs(certs);
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
            let mut conn = Conn::new(Inner::Cluster(conn));
            // The direct connections use the first node's credentials, as
            // redis-rs' cluster client does, with the same overrides.
            if let Some(Ok(mut info)) = nodes.first().map(|u| u.as_str().into_connection_info()) {
                let mut settings = info.redis_settings().clone();
                if let Some(user) = &config.username {
                    settings = settings.set_username(user);
                }
                if let Some(pw) = &config.password {
                    settings = settings.set_password(pw);
                }
                info = info.set_redis_settings(settings);
                conn.direct = direct_for(config, &info);
            }
            Ok(conn)
        }
    }

    /// Cluster: forgets the slot map, so the next use reads it again.
    pub fn forget_slot_map(&self) {
        *self.lock_map() = None;
    }

    fn new(inner: Inner) -> Conn {
        Conn {
            inner,
            slot_map: Arc::new(Mutex::new(None)),
            redirected: Arc::new(AtomicU64::new(0)),
            direct: None,
            addr: None,
        }
    }

    /// Whether large pipelines go over direct connections, whose reader
    /// can read replies into a [`crate::landing::Landing`] (not over TLS).
    pub fn reads_directly(&self) -> bool {
        self.direct.is_some()
    }

    /// Whether this is a cluster connection.
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner, Inner::Cluster(_))
    }

    /// How many commands reached the wrong master and were resent.
    pub fn redirected(&self) -> u64 {
        self.redirected.load(Ordering::Relaxed)
    }

    fn lock_map(&self) -> std::sync::MutexGuard<'_, Option<Arc<SlotMap>>> {
        self.slot_map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cluster's slot -> master map (one `CLUSTER SLOTS` when unknown),
    /// or `None` if the cluster does not give a complete one.
    pub async fn slot_map(&self) -> Option<Arc<SlotMap>> {
        if let Some(map) = self.lock_map().clone() {
            return Some(map);
        }
        let answer = self.query(redis::cmd("CLUSTER").arg("SLOTS")).await.ok()?;
        let map = Arc::new(parse_cluster_slots(answer)?);
        *self.lock_map() = Some(map.clone());
        Some(map)
    }

    /// Runs one command.
    pub async fn query(&self, cmd: &Cmd) -> RedisResult<Value> {
        match self.inner.clone() {
            Inner::Single(mut c) => cmd.query_async(&mut c).await,
            Inner::Cluster(mut c) => cmd.query_async(&mut c).await,
        }
    }

    /// The address a direct connection to cluster master `master` takes:
    /// none without direct connections (TLS), or when the cluster does
    /// not say the master's host.
    fn direct_addr(&self, map: &SlotMap, master: u32) -> Option<String> {
        self.direct.as_ref()?;
        map.addrs
            .get(master as usize)
            .filter(|a| !a.starts_with(':'))
            .cloned()
    }

    /// Runs one small command that names `key` only and may run twice
    /// (`INCRBY` of the insertion counter: a second run only skips
    /// numbers). It goes over a direct connection to the server, or to the
    /// master the slot map names for `key`, while few small pipelines are
    /// in flight: one round trip, where redis-rs' cluster connection hands
    /// a command to its routing task and the reply back, a thread hop each
    /// way (a cluster single-row put: 230 us, of which about 100 us for the
    /// counter; BENCHMARKS.md). Otherwise, and after an error of the
    /// direct attempt (redirected, refused, a broken connection; not a
    /// timeout, which is the answer), it goes through redis-rs, which
    /// routes, follows redirections and reconnects by itself; a refusal is
    /// then answered again.
    pub async fn query_idempotent(&self, cmd: &Command, key: &[u8]) -> RedisResult<Value> {
        if let Some(direct) = &self.direct {
            let addr = if self.is_cluster() {
                self.slot_map().await.and_then(|map| {
                    let master = *map.owner.get(usize::from(slot_of_key(key)))?;
                    self.direct_addr(&map, master)
                })
            } else {
                self.addr.clone()
            };
            if let (Some(addr), Some(_slot)) = (addr, direct.small_slot(SMALL_DIRECT)) {
                match direct.pipeline(&addr, std::slice::from_ref(cmd)).await {
                    Ok(mut answers) if answers.len() == 1 => match answers.remove(0) {
                        Ok(answer) => return Ok(answer),
                        Err(e) => {
                            if matches!(
                                e.kind(),
                                redis::ErrorKind::Server(
                                    ServerErrorKind::Moved | ServerErrorKind::Ask
                                )
                            ) {
                                self.redirected.fetch_add(1, Ordering::Relaxed);
                                self.forget_slot_map();
                            }
                        }
                    },
                    // The server did not answer in time: asking again
                    // would wait as long once more.
                    Err(e) if e.kind() == redis::ErrorKind::Io && e.is_timeout() => {
                        return Err(e);
                    }
                    // Broken, or a wrong count.
                    _ => {}
                }
            }
        }
        self.query(&cmd.to_redis()).await
    }

    /// Sends one built pipeline: over a direct connection when it has an
    /// address, else through redis-rs (to the master serving its slot, or
    /// routed by the client).
    ///
    /// A large pipeline runs as a task of its own: the pipelines of one
    /// call then copy their bytes to and from the kernel on several worker
    /// threads at once (in one task, one thread did every copy). The task
    /// owns what it needs, so a caller that stops waiting leaves it to
    /// finish within the command timeout (its outcome is discarded, as for
    /// any pipeline the server already received).
    async fn send(&self, b: &mut Built) -> RedisResult<Vec<RedisResult<Value>>> {
        if let (Some(direct), Some(addr)) = (&self.direct, &b.addr) {
            let large = b.cmds.len() >= DIRECT_COMMANDS
                || b.cmds.iter().map(Command::wire_len).sum::<usize>() >= DIRECT_BYTES;
            if large {
                let (direct, addr) = (direct.clone(), addr.clone());
                let cmds = std::mem::take(&mut b.cmds);
                return tokio::spawn(async move { direct.pipeline(&addr, &cmds).await })
                    .await
                    .unwrap_or_else(|e| {
                        // Unknown how far it got: like a broken connection.
                        Err(std::io::Error::other(format!("a pipeline's task failed: {e}")).into())
                    });
            }
            if let Some(_slot) = direct.small_slot(SMALL_DIRECT) {
                return direct.pipeline(addr, &b.cmds).await;
            }
        }
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for cmd in &b.cmds {
            pipe.add_command(cmd.to_redis());
        }
        match b.slot {
            Some(slot) => self.pipeline_on_master(pipe, slot).await,
            None => self.pipeline(&pipe).await,
        }
    }

    /// Runs a pipeline; per-command server errors come back in place.
    async fn pipeline(&self, pipe: &Pipeline) -> RedisResult<Vec<RedisResult<Value>>> {
        match self.inner.clone() {
            Inner::Single(mut c) => pipe.query_async(&mut c).await,
            Inner::Cluster(mut c) => pipe.query_async(&mut c).await,
        }
    }

    /// Cluster: runs a pipeline whose commands may span several slots on
    /// the master that serves `slot`.
    async fn pipeline_on_master(
        &self,
        pipe: Pipeline,
        slot: u16,
    ) -> RedisResult<Vec<RedisResult<Value>>> {
        let Inner::Cluster(mut c) = self.inner.clone() else {
            return self.pipeline(&pipe).await;
        };
        let n = pipe.len();
        let route = SingleNodeRoutingInfo::SpecificNode(Route::new(slot, SlotAddr::Master));
        let values = c.route_pipeline(pipe, 0, n, route).await?;
        Ok(values
            .into_iter()
            .map(|v| match v {
                Value::ServerError(e) => Err(e.into()),
                v => Ok(v),
            })
            .collect())
    }

    /// Runs one [`Unit`] per item and returns the answers in item order,
    /// or the first item's error (see [`run_items_each`](Self::run_items_each)).
    pub async fn run_items<F, U>(
        &self,
        buckets: &[u16],
        build: F,
        op: &'static str,
    ) -> Result<Vec<Value>>
    where
        F: Fn(usize, bool) -> U,
        U: Into<Unit>,
    {
        self.run_items_each(buckets, Order::Free, build)
            .await
            .into_iter()
            .map(|outcome| outcome.map_err(|e| from_redis(e.error, op)))
            .collect()
    }

    /// Runs one [`Unit`] per item and returns each item's outcome, in item
    /// order, with as few round trips as the server allows:
    ///
    /// - standalone: every unit in one pipeline (one round trip);
    /// - cluster: one pipeline per master (its buckets' slots, from
    ///   `CLUSTER SLOTS`), all in flight at once: one round trip of latency.
    ///   A transaction's commands all name keys of its item's bucket, so
    ///   `MULTI`/`EXEC` on the master's connection is legal.
    ///
    /// `build(i, by_text)` builds item `i`'s unit (scripts as `EVALSHA`, or
    /// `EVAL` with `by_text`). Items that were refused without running are
    /// sent once more: answered `NOSCRIPT` (a restarted server) as `EVAL`;
    /// reached the wrong master (`MOVED`/`ASK`) through per-slot pipelines
    /// that follow redirections. Any other server error is that item's
    /// outcome (with whether it ran); an error of a command inside an
    /// `EXEC` means its transaction ran, so it is never resent. A
    /// connection error fails every item of its pipeline, as "may have
    /// run" (items already executed stay executed); other pipelines go on.
    pub async fn run_items_each<F, U>(
        &self,
        buckets: &[u16],
        order: Order,
        build: F,
    ) -> Vec<std::result::Result<Value, ItemError>>
    where
        F: Fn(usize, bool) -> U,
        U: Into<Unit>,
    {
        let mut results: Vec<Option<std::result::Result<Value, ItemError>>> =
            vec![None; buckets.len()];
        let first = Attempt {
            by_text: false,
            per_slot: false,
        };
        let mut pending: Vec<(usize, Attempt)> = (0..buckets.len()).map(|i| (i, first)).collect();
        // Each retry changes an item's attempt for good, so three passes suffice.
        for _pass in 0..4 {
            if pending.is_empty() {
                break;
            }
            let mut groups: Vec<Group> = Vec::new();
            if self.is_cluster() {
                let map = if pending.iter().any(|(_, a)| !a.per_slot) {
                    self.slot_map().await
                } else {
                    None
                };
                let mut per_master: BTreeMap<u32, Group> = BTreeMap::new();
                let mut per_bucket: BTreeMap<u16, Vec<(usize, Attempt)>> = BTreeMap::new();
                for &(i, a) in &pending {
                    let slot = slot_of_bucket(buckets[i]);
                    match (&map, a.per_slot) {
                        (Some(map), false) => {
                            let master = map
                                .owner
                                .get(usize::from(slot))
                                .copied()
                                .unwrap_or(u32::MAX);
                            let addr = self.direct_addr(map, master);
                            per_master
                                .entry(master)
                                .or_insert_with(|| Group {
                                    slot: Some(slot),
                                    addr,
                                    items: Vec::new(),
                                })
                                .items
                                .push((i, a));
                        }
                        _ => per_bucket.entry(buckets[i]).or_default().push((
                            i,
                            Attempt {
                                per_slot: true,
                                ..a
                            },
                        )),
                    }
                }
                groups.extend(per_master.into_values());
                groups.extend(per_bucket.into_values().map(|items| Group {
                    slot: None,
                    addr: None,
                    items,
                }));
            } else {
                groups.push(Group {
                    slot: None,
                    addr: self.addr.clone().filter(|_| self.direct.is_some()),
                    items: pending.clone(),
                });
            }
            // Build every pipeline first, remembering how many commands
            // each item's unit holds (a transaction: MULTI, them, EXEC).
            let by_count = (MAX_SPLIT / groups.len().max(1)).max(1);
            let built: Vec<Built> = groups
                .into_iter()
                .flat_map(|group| {
                    let mut shapes = Vec::with_capacity(group.items.len());
                    let mut cmds = Vec::with_capacity(group.items.len());
                    for &(i, a) in &group.items {
                        let unit: Unit = build(i, a.by_text).into();
                        shapes.push(Shape::of(&unit));
                        cmds.extend(unit.into_commands());
                    }
                    let built = Built {
                        slot: group.slot,
                        addr: group.addr,
                        items: group.items,
                        shapes,
                        cmds,
                    };
                    match order {
                        Order::Free => built.split(by_count),
                        Order::Kept => vec![built],
                    }
                })
                .collect();
            let mut built = built;
            let answers = join_all(built.iter_mut().map(|b| self.send(b))).await;
            let mut again = Vec::new();
            for (b, answer) in built.iter().zip(answers) {
                let expected = b.expected();
                let group = &b.items;
                let shapes = &b.shapes;
                let answer = answer.and_then(|answer| {
                    if answer.len() == expected {
                        Ok(answer)
                    } else {
                        Err(redis::RedisError::from((
                            redis::ErrorKind::UnexpectedReturnType,
                            "a pipeline got a wrong number of answers",
                            format!("{} answers for {expected} commands", answer.len()),
                        )))
                    }
                });
                let answer = match answer {
                    Ok(answer) => answer,
                    Err(e) => {
                        // Unknown how far the pipeline got.
                        for &(i, _) in group {
                            results[i] = Some(Err(ItemError {
                                error: e.clone(),
                                ran: None,
                            }));
                        }
                        continue;
                    }
                };
                let mut replies = answer.into_iter();
                for (&(i, a), &shape) in group.iter().zip(shapes) {
                    let (item, ran) = match shape {
                        Shape::Cmd => (replies.next().unwrap_or(Ok(Value::Nil)), false),
                        Shape::Tx { queued, all } => {
                            tx_outcome(replies.by_ref().take(queued + 2), all)
                        }
                        Shape::Reads { n } => (reads_outcome(replies.by_ref().take(n)), false),
                    };
                    let kind = item.as_ref().err().map(redis::RedisError::kind);
                    match item {
                        Ok(v) => results[i] = Some(Ok(v)),
                        Err(error) if ran => {
                            results[i] = Some(Err(ItemError {
                                error,
                                ran: Some(true),
                            }));
                        }
                        Err(_)
                            if !a.by_text
                                && kind
                                    == Some(redis::ErrorKind::Server(
                                        ServerErrorKind::NoScript,
                                    )) =>
                        {
                            again.push((i, Attempt { by_text: true, ..a }));
                        }
                        Err(_)
                            if !a.per_slot
                                && matches!(
                                    kind,
                                    Some(redis::ErrorKind::Server(
                                        ServerErrorKind::Moved | ServerErrorKind::Ask
                                    ))
                                ) =>
                        {
                            self.redirected.fetch_add(1, Ordering::Relaxed);
                            *self.lock_map() = None;
                            again.push((
                                i,
                                Attempt {
                                    per_slot: true,
                                    ..a
                                },
                            ));
                        }
                        Err(error) => {
                            results[i] = Some(Err(ItemError {
                                error,
                                ran: Some(false),
                            }));
                        }
                    }
                }
            }
            pending = again;
        }
        results
            .into_iter()
            .map(|v| {
                v.unwrap_or_else(|| {
                    Err(ItemError {
                        error: redis::RedisError::from((
                            redis::ErrorKind::UnexpectedReturnType,
                            "a command got no answer",
                        )),
                        ran: Some(false),
                    })
                })
            })
            .collect()
    }

    /// Runs `cmd` on the standalone server (node `None`) or on every
    /// cluster master (node `Some("host:port")`), concurrently. A server
    /// error comes back per node; a connection error or timeout on any
    /// node fails the whole call.
    pub async fn on_every_master(
        &self,
        cmd: &Cmd,
    ) -> RedisResult<Vec<(Option<String>, RedisResult<Value>)>> {
        let mut c = match self.inner.clone() {
            Inner::Single(mut c) => {
                return match cmd.query_async(&mut c).await {
                    Ok(v) => Ok(vec![(None, Ok(v))]),
                    Err(e) if e.kind() == redis::ErrorKind::Io || e.is_timeout() => Err(e),
                    Err(e) if e.is_connection_dropped() || e.is_connection_refusal() => Err(e),
                    Err(e) => Ok(vec![(None, Err(e))]),
                };
            }
            Inner::Cluster(c) => c,
        };
        let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
        let answer = c.route_command(cmd.clone(), routing).await?;
        let Value::Map(per_node) = answer else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "a command on every master did not answer per node",
                format!("{answer:?}"),
            )));
        };
        Ok(per_node
            .into_iter()
            .map(|(node, v)| {
                let node = match node {
                    Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                    Value::SimpleString(s) => s,
                    other => format!("{other:?}"),
                };
                let v = match v {
                    Value::ServerError(e) => Err(e.into()),
                    v => Ok(v),
                };
                (Some(node), v)
            })
            .collect())
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

/// The value in a `CONFIG GET <one name>` answer (`[name, value]`, or a
/// map in RESP3), or `None` (an empty answer: unknown setting).
pub fn config_text(value: &Value) -> Option<String> {
    let v = match value {
        Value::Array(items) | Value::Set(items) => items.get(1)?,
        Value::Map(pairs) => &pairs.first()?.1,
        _ => return None,
    };
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// The value of `field` in an `INFO` answer (`field:value` lines).
pub fn info_field(value: &Value, field: &str) -> Option<String> {
    let text = match value {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        _ => return None,
    };
    text.lines().find_map(|line| {
        let (name, v) = line.trim().split_once(':')?;
        (name == field).then(|| v.trim().to_owned())
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> RedisResult<Value> {
        Ok(Value::SimpleString(s.to_owned()))
    }

    /// A direct pipeline of `items` single commands of `bytes` each.
    fn built(items: usize, bytes: usize) -> Built {
        let first = Attempt {
            by_text: false,
            per_slot: false,
        };
        Built {
            slot: None,
            addr: Some("127.0.0.1:6379".into()),
            items: (0..items).map(|i| (i, first)).collect(),
            shapes: vec![Shape::Cmd; items],
            cmds: (0..items)
                .map(|i| {
                    let mut cmd = Command::new("SET");
                    cmd.arg(format!("k{i}")).arg(vec![0u8; bytes]);
                    cmd
                })
                .collect(),
        }
    }

    /// The items of each part, which must be all of them, in order.
    fn parts(split: Vec<Built>, items: usize) -> Vec<usize> {
        let order: Vec<usize> = split
            .iter()
            .flat_map(|b| b.items.iter().map(|(i, _)| *i))
            .collect();
        assert_eq!(order, (0..items).collect::<Vec<_>>());
        for b in &split {
            assert_eq!(b.cmds.len(), b.expected(), "each part keeps its commands");
        }
        split.iter().map(|b| b.items.len()).collect()
    }

    #[test]
    fn many_small_items_split_by_count_up_to_the_cap_many_bytes_up_to_the_most() {
        // 256 small items: one part per SPLIT_ITEMS, at most `by_count`.
        // (Parts are of about equal bytes: keys k0..k255 differ in length.)
        let even = |parts: Vec<usize>, n: usize| {
            assert_eq!(parts.len(), n, "{parts:?}");
            let share = parts.iter().sum::<usize>() / n;
            assert!(parts.iter().all(|&p| p.abs_diff(share) <= 2), "{parts:?}");
        };
        even(parts(built(256, 8).split(4), 256), 4);
        even(parts(built(256, 8).split(2), 256), 2);
        assert_eq!(parts(built(256, 8).split(1), 256), vec![256]);
        even(parts(built(128, 8).split(4), 128), 2);
        assert_eq!(
            parts(built(SPLIT_ITEMS - 1, 8).split(4), SPLIT_ITEMS - 1).len(),
            1
        );
        // 40 items of 1 MiB: one part per SPLIT_BYTES, whatever `by_count`.
        let large = parts(built(40, 1 << 20).split(1), 40);
        assert_eq!(large.len(), 3, "{large:?}");
        // Never more than MAX_SPLIT, however large.
        assert_eq!(parts(built(80, 1 << 20).split(1), 80).len(), MAX_SPLIT);
        // One item is never split.
        assert_eq!(parts(built(1, 64 << 20).split(4), 1), vec![1]);
    }

    /// A server error as the server sends it (`-CODE detail`).
    fn server_error(text: &str) -> redis::ServerError {
        match redis::parse_redis_value(format!("-{text}\r\n").as_bytes()) {
            Ok(Value::ServerError(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn config_and_info_answers_are_read_in_any_shape() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let resp2 = Value::Array(vec![bulk("maxmemory-policy"), bulk("allkeys-lru")]);
        assert_eq!(config_text(&resp2).as_deref(), Some("allkeys-lru"));
        let resp3 = Value::Map(vec![(bulk("maxmemory-policy"), bulk("noeviction"))]);
        assert_eq!(config_text(&resp3).as_deref(), Some("noeviction"));
        assert_eq!(config_text(&Value::Array(vec![])), None);
        let info = "# Memory\r\nused_memory:1\r\nmaxmemory_policy:volatile-lru\r\n";
        assert_eq!(
            info_field(&bulk(info), "maxmemory_policy").as_deref(),
            Some("volatile-lru")
        );
        let verbatim = Value::VerbatimString {
            format: redis::VerbatimFormat::Text,
            text: info.to_owned(),
        };
        assert_eq!(
            info_field(&verbatim, "maxmemory_policy").as_deref(),
            Some("volatile-lru")
        );
        assert_eq!(info_field(&bulk(info), "maxmemory"), None);
    }

    #[test]
    fn a_transaction_answers_its_last_command() {
        let exec = Ok(Value::Array(vec![Value::Int(3), Value::Int(7)]));
        let (answer, ran) = tx_outcome(
            [ok("OK"), ok("QUEUED"), ok("QUEUED"), exec].into_iter(),
            false,
        );
        assert_eq!(answer.unwrap(), Value::Int(7));
        assert!(ran);
    }

    #[test]
    fn a_read_transaction_answers_every_command() {
        let exec = Ok(Value::Array(vec![Value::Int(3), Value::Nil]));
        let (answer, ran) = tx_outcome(
            [ok("OK"), ok("QUEUED"), ok("QUEUED"), exec].into_iter(),
            true,
        );
        assert_eq!(
            answer.unwrap(),
            Value::Array(vec![Value::Int(3), Value::Nil])
        );
        assert!(ran);
    }

    #[test]
    fn reads_answer_every_reply_or_their_first_error() {
        let answer = reads_outcome([Ok(Value::Int(3)), Ok(Value::Nil)].into_iter());
        assert_eq!(
            answer.unwrap(),
            Value::Array(vec![Value::Int(3), Value::Nil])
        );
        let refused = reads_outcome(
            [
                Ok(Value::Int(3)),
                Err(server_error("MOVED 3999 127.0.0.1:6381").into()),
            ]
            .into_iter(),
        );
        assert_eq!(
            refused.unwrap_err().kind(),
            redis::ErrorKind::Server(ServerErrorKind::Moved)
        );
    }

    #[test]
    fn a_refused_transaction_names_the_refusal_and_did_not_run() {
        let replies = [
            ok("OK"),
            Err(server_error("MOVED 3999 127.0.0.1:6381").into()),
            ok("QUEUED"),
            Err(server_error("EXECABORT Transaction discarded").into()),
        ];
        let (answer, ran) = tx_outcome(replies.into_iter(), false);
        assert_eq!(
            answer.unwrap_err().kind(),
            redis::ErrorKind::Server(ServerErrorKind::Moved)
        );
        assert!(!ran);
    }

    #[test]
    fn an_error_inside_exec_is_reported_as_having_run() {
        let inner = server_error("NOSCRIPT No matching script");
        let exec = Ok(Value::Array(vec![Value::Int(1), Value::ServerError(inner)]));
        let (answer, ran) = tx_outcome(
            [ok("OK"), ok("QUEUED"), ok("QUEUED"), exec].into_iter(),
            false,
        );
        assert_eq!(
            answer.unwrap_err().kind(),
            redis::ErrorKind::Server(ServerErrorKind::NoScript)
        );
        assert!(ran);
    }
}
