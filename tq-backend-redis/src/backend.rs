//! [`RedisBackend`]: tq-core's [`StorageBackend`] on Redis.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use indexmap::IndexMap;
use redis::Value as RV;
use tq_core::{
    Capabilities, Cells, ConditionalBackend, Error, ErrorKind, Listing, Notifications, Result,
    RowState, RowWrite, StorageBackend, Tag, WatchBackend,
};

use crate::cells::{array, bulk, decode_cell, decode_tag, in_row, split_field, utf8};
use crate::client::Conn;
use crate::config::{RedisConfig, Secrets};
use crate::error::{bad_reply, from_redis};
use crate::keys::{CELL_MARK, KeyLayout, LAYOUT_VERSION};
use crate::reservations::Reservations;
use crate::row_read::HashRead;
use crate::scripts::{CLEAR, LIST};
use crate::wire::Command;

/// `proto-max-bulk-len` when the server does not say (Redis' default).
pub const FALLBACK_MAX_BULK: u64 = 512 * 1024 * 1024;
/// `client-query-buffer-limit` when the server does not say (Redis' default).
pub const FALLBACK_MAX_QUERY: u64 = 1024 * 1024 * 1024;

/// A [`StorageBackend`] that keeps rows in Redis, standalone or Cluster;
/// see the crate docs for the key layout, round trips and guarantees.
///
/// Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct RedisBackend {
    pub(crate) conn: Conn,
    pub(crate) layout: KeyLayout,
    pub(crate) max_bulk: u64,
    pub(crate) max_query: u64,
    /// This process' reservations of insertion sequences, coalesced.
    reservations: Arc<Reservations>,
    /// Rows a get read again because a write landed between its reads.
    pub(crate) read_again: Arc<AtomicU64>,
    config: RedisConfig,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("config", &self.config)
            .field("max_bulk", &self.max_bulk)
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// Connects to the server or cluster `config` names, refuses a server
    /// whose `maxmemory-policy` may evict this store's keys (unless
    /// [`allow_evicting_policy`](RedisConfig::allow_evicting_policy); see
    /// the crate docs), reads the server's value size limit (`CONFIG GET
    /// proto-max-bulk-len`, falling back to 512 MiB), and checks (or, for a
    /// new store, records) the key layout.
    ///
    /// The whole open (TCP, TLS, the `HELLO`/`AUTH` handshake, and the
    /// checks and reads above) gives up after
    /// [`connect_timeout_ms`](RedisConfig::connect_timeout_ms) +
    /// [`command_timeout_ms`](RedisConfig::command_timeout_ms) (its default,
    /// 60 s, when it is `0`), even against a server that accepts
    /// connections but never answers (a stopped process).
    ///
    /// Errors: a bad setting or wrong password is a permanent
    /// [`Config`](tq_core::ErrorKind::Config) error naming the setting; an
    /// unreachable or unresponsive server is
    /// [`Unavailable`](tq_core::ErrorKind::Unavailable) and temporary, and
    /// names the server (`url` or `cluster_nodes`, without credentials).
    pub async fn open(config: RedisConfig) -> Result<RedisBackend> {
        let secrets = Secrets::of(&config);
        Self::open_unredacted(config)
            .await
            .map_err(|e| secrets.redact_error(e))
    }

    async fn open_unredacted(config: RedisConfig) -> Result<RedisBackend> {
        const OP: &str = "redis::open";
        config.validate()?;
        let (setting, servers) = config.servers();
        let at_servers = |e: Error| {
            if e.context_value(setting).is_some() {
                e
            } else {
                e.with_context(setting, servers.clone())
            }
        };
        // One deadline for the whole open: connect_timeout + command_timeout.
        // (redis-rs' own timeouts still apply to each connection attempt and
        // each request inside it.)
        let budget = config.connect_timeout() + config.open_checks_timeout();
        let deadline = tokio::time::Instant::now() + budget;
        let no_answer = |phase: &str| {
            Error::new(
                ErrorKind::Unavailable,
                format!(
                    "no answer from the Redis server(s) at {servers} while {phase} within \
                     connect_timeout_ms + command_timeout_ms = {} ms",
                    budget.as_millis()
                ),
            )
            .with_operation(OP)
            .with_context(setting, servers.clone())
        };
        let conn = match tokio::time::timeout_at(deadline, Conn::open(&config)).await {
            Ok(conn) => conn.map_err(at_servers)?,
            Err(_) => return Err(no_answer("connecting (TCP, TLS, handshake)")),
        };
        match tokio::time::timeout_at(deadline, Self::check_server(conn, config)).await {
            Ok(backend) => backend.map_err(at_servers),
            Err(_) => Err(no_answer("reading its settings and the store's layout")),
        }
    }

    /// The checks and reads of an open, once connected.
    async fn check_server(conn: Conn, config: RedisConfig) -> Result<RedisBackend> {
        const OP: &str = "redis::open";
        let layout = KeyLayout::new(&config.key_prefix, config.effective_buckets());
        // PING first: it surfaces a missing or wrong password as such.
        conn.query(&redis::cmd("PING"))
            .await
            .map_err(|e| from_redis(e, OP))?;
        if !config.allow_evicting_policy {
            check_policy(&conn, &config).await?;
        }
        let max_bulk = conn
            .config_number("proto-max-bulk-len")
            .await
            .unwrap_or(FALLBACK_MAX_BULK);
        let max_query = conn
            .config_number("client-query-buffer-limit")
            .await
            .unwrap_or(FALLBACK_MAX_QUERY);
        let backend = RedisBackend {
            conn,
            layout,
            max_bulk,
            max_query,
            reservations: Arc::default(),
            read_again: Arc::default(),
            config,
        };
        backend.check_layout().await?;
        Ok(backend)
    }

    async fn check_layout(&self) -> Result<()> {
        const OP: &str = "redis::open";
        let marker = self.layout.layout_marker();
        let want = self.layout.layout_description();
        let get = || async {
            let have = self
                .conn
                .query(redis::cmd("GET").arg(&marker))
                .await
                .map_err(|e| from_redis(e, OP))?;
            Ok::<_, Error>(bulk(have).map(|b| String::from_utf8_lossy(&b).into_owned()))
        };
        // Read first: an existing store opens without a write, so a server
        // that is out of memory (every write refused) can still be opened,
        // to read and to clear rows.
        let mut have = get().await?;
        if have.is_none() {
            self.conn
                .query(redis::cmd("SET").arg(&marker).arg(&want).arg("NX"))
                .await
                .map_err(|e| from_redis(e, OP))?;
            have = get().await?;
        }
        match have {
            Some(have) if have == want => Ok(()),
            Some(have)
                if !have.starts_with(&format!("tq-backend-redis layout {LAYOUT_VERSION};")) =>
            {
                Err(Error::config(format!(
                    "the store under key_prefix {:?} was created as {have:?}, a layout this \
                     build does not read: this build (layout {LAYOUT_VERSION}) keeps a large \
                     cell's payload under a key of its own and its header in the row's hash, \
                     and each layout misreads the others' cells. Read or clear the store with \
                     the version that wrote it, or use another `key_prefix`",
                    self.config.key_prefix
                ))
                .with_operation(OP)
                .with_context("setting", "key_prefix"))
            }
            Some(have) => Err(Error::config(format!(
                "the store under key_prefix {:?} was created as {have:?}, this configuration \
                 gives {want:?}: use the same `buckets` as the store's other clients, or \
                 another `key_prefix`",
                self.config.key_prefix
            ))
            .with_operation(OP)
            .with_context("setting", "buckets")),
            None => Err(bad_reply("the layout marker vanished", OP)),
        }
    }

    /// `e` with any secret of the configuration scrubbed (see
    /// [`Secrets::redact_error`]); every error leaves through here.
    pub(crate) fn redact(&self, e: Error) -> Error {
        Secrets::of(&self.config).redact_error(e)
    }

    /// The settings this backend was opened with.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// The key layout (prefix and buckets) of this store.
    pub fn layout(&self) -> &KeyLayout {
        &self.layout
    }

    /// The largest encoded value the server accepts (its
    /// `proto-max-bulk-len`, read at open).
    pub fn max_value_bytes(&self) -> u64 {
        self.max_bulk
    }

    /// Cluster: how many commands reached the wrong master (after a
    /// resharding) and were sent again through per-slot routing. Zero on a
    /// stable cluster: every operation then uses one pipeline per master.
    pub fn redirected_commands(&self) -> u64 {
        self.conn.redirected()
    }

    /// How many rows a get read again, in one `MULTI`/`EXEC`, because a
    /// write landed between its read of the row's hash and of its cell
    /// keys (see "Where a cell lives" in the crate docs). Zero without
    /// concurrent writes to the rows being read.
    pub fn rows_read_again(&self) -> u64 {
        self.read_again.load(Ordering::Relaxed)
    }

    /// How the scripts publish a write's events: `PUBLISH` on a standalone
    /// server, `SPUBLISH` (sharded pub/sub, Redis 7) in a cluster, so an
    /// event goes out from the master of the row's slot only instead of
    /// being broadcast over the cluster bus.
    pub(crate) fn publish_command(&self) -> &'static str {
        if self.conn.is_cluster() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        }
    }

    /// The first of `n` fresh insertion sequence numbers for a put that
    /// takes them before writing: a cluster put (the counter lives in its
    /// own slot, so it cannot be taken inside the row scripts) or a split
    /// standalone one. Concurrent reservations share one `INCRBY`
    /// ([`Reservations`]).
    pub(crate) async fn reserve_seqs(&self, n: usize) -> redis::RedisResult<u64> {
        let counter = self.layout.counter();
        let incrby = |total: u64| {
            let mut cmd = Command::new("INCRBY");
            cmd.arg(&counter).arg(total.to_string());
            let counter = &counter;
            async move {
                match self.conn.query_idempotent(&cmd, counter).await? {
                    RV::Int(last) if last >= 0 => Ok(last as u64),
                    other => Err(redis::RedisError::from((
                        redis::ErrorKind::UnexpectedReturnType,
                        "the insertion counter's INCRBY",
                        format!("answered {other:?}"),
                    ))),
                }
            }
        };
        self.reservations.reserve(n as u64, incrby).await
    }
}

#[async_trait]
impl StorageBackend for RedisBackend {
    fn name(&self) -> &str {
        "redis"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_persistent(true)
            .with_shared_across_processes(true)
            .with_atomic_batch(false)
            .with_zero_copy_put(false)
            .with_max_value_bytes(Some(self.max_bulk))
            .with_conditional_write(true)
            .with_notifications(Notifications::CrossProcess)
    }

    fn as_conditional(&self) -> Option<&dyn ConditionalBackend> {
        Some(self)
    }

    fn as_watch(&self) -> Option<&dyn WatchBackend> {
        Some(self)
    }

    async fn put(&self, partition: &str, rows: Vec<RowWrite>) -> Result<Vec<RowState>> {
        self.put_rows(partition, rows)
            .await
            .map_err(|e| self.redact(e))
    }

    async fn get(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<Option<Cells>>> {
        self.get_rows(partition, keys, fields)
            .await
            .map_err(|e| self.redact(e))
    }

    async fn list(&self, partition: Option<&str>) -> Result<Listing> {
        self.list_rows(partition).await.map_err(|e| self.redact(e))
    }

    async fn clear(&self, partition: &str, keys: &[String]) -> Result<usize> {
        self.clear_rows(partition, keys)
            .await
            .map_err(|e| self.redact(e))
    }
}

/// The operations; the trait methods above only redact their errors.
impl RedisBackend {
    async fn get_rows(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<Option<Cells>>> {
        const OP: &str = "redis::get";
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let read = match fields {
            None => HashRead::All,
            Some(list) => HashRead::Selected(list),
        };
        let answers = self.read_rows(partition, keys, read, None, OP).await?;
        keys.iter()
            .zip(answers)
            .map(|(key, answer)| {
                let row = match fields {
                    None => parse_all_cells(answer.reply, partition, key),
                    Some(list) => parse_selected_cells(answer.reply, partition, key, list),
                }?;
                Ok(row.map(|mut cells| {
                    cells.extend(answer.keyed);
                    cells
                }))
            })
            .collect::<Result<_>>()
            .map_err(|e| e.with_operation(OP))
    }

    async fn list_rows(&self, partition: Option<&str>) -> Result<Listing> {
        const OP: &str = "redis::list";
        let buckets: Vec<u16> = (0..self.layout.buckets()).collect();
        let answers = self
            .conn
            .run_items(
                &buckets,
                |i, by_text| {
                    let b = buckets[i];
                    let mut cmd = LIST.invocation(by_text, &[&self.layout.partitions(b)]);
                    cmd.arg(self.layout.bucket_base(b));
                    if let Some(p) = partition {
                        cmd.arg(p);
                    }
                    cmd
                },
                OP,
            )
            .await?;
        let mut merged: BTreeMap<String, Vec<(u64, String, Tag)>> = BTreeMap::new();
        for answer in answers {
            parse_list_bucket(answer, &mut merged).map_err(|e| e.with_operation(OP))?;
        }
        let mut listing = Listing::default();
        for (p, mut rows) in merged {
            if rows.is_empty() {
                continue;
            }
            rows.sort_by_key(|(seq, _, _)| *seq);
            let keys: IndexMap<String, Tag> = rows.into_iter().map(|(_, k, t)| (k, t)).collect();
            listing.insert(p, keys);
        }
        Ok(listing)
    }

    async fn clear_rows(&self, partition: &str, keys: &[String]) -> Result<usize> {
        const OP: &str = "redis::clear";
        if keys.is_empty() {
            return Ok(0);
        }
        let buckets = self
            .layout
            .buckets_of(partition, keys.iter().map(String::as_str));
        let publish = self.publish_command();
        let answers = self
            .conn
            .run_items(
                &buckets,
                |i, by_text| {
                    let b = buckets[i];
                    let mut cmd = CLEAR.invocation(
                        by_text,
                        &[
                            &self.layout.row(b, partition, &keys[i]),
                            &self.layout.index(b, partition),
                            &self.layout.partitions(b),
                        ],
                    );
                    cmd.arg(&keys[i]).arg(partition).arg(publish);
                    cmd.arg(self.layout.watch_channel(b, partition));
                    cmd.arg(self.layout.cell_base(b, partition, &keys[i]));
                    cmd
                },
                OP,
            )
            .await?;
        let mut removed = 0;
        for answer in answers {
            match answer {
                RV::Int(n) => removed += usize::from(n == 1),
                other => return Err(bad_reply(&format!("clear answered {other:?}"), OP)),
            }
        }
        Ok(removed)
    }
}

/// `maxmemory-policy` values that never evict this store's keys:
/// `noeviction`, and the `volatile-*` policies, which only evict keys with
/// a TTL (this backend never sets one).
pub const SAFE_POLICIES: [&str; 5] = [
    "noeviction",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];

/// Refuses a server (any cluster master) whose `maxmemory-policy` may
/// evict this store's keys, or whose policy cannot be read (`CONFIG GET`,
/// then `INFO memory`'s `maxmemory_policy`): a permanent `Config` error
/// naming `maxmemory-policy`, its value and the node, saying how to opt in.
async fn check_policy(conn: &Conn, config: &RedisConfig) -> Result<()> {
    const OP: &str = "redis::open";
    let opt_in = "set `allow_evicting_policy = true` to open it anyway and accept that rows \
                  may vanish silently (LOSSY)";
    let from_config = conn
        .on_every_master(redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy"))
        .await
        .map_err(|e| from_redis(e, OP))?;
    let mut policies: Vec<(Option<String>, std::result::Result<String, String>)> = from_config
        .into_iter()
        .map(|(node, answer)| {
            let policy = match answer {
                Ok(v) => crate::client::config_text(&v)
                    .ok_or_else(|| "CONFIG GET maxmemory-policy answered nothing".to_owned()),
                Err(e) => Err(format!("CONFIG GET maxmemory-policy: {e}")),
            };
            (node, policy)
        })
        .collect();
    if policies.iter().any(|(_, p)| p.is_err()) {
        // CONFIG renamed away or refused by the ACL: INFO says it too.
        let from_info = conn
            .on_every_master(redis::cmd("INFO").arg("memory"))
            .await
            .map_err(|e| from_redis(e, OP))?;
        for (node, policy) in &mut policies {
            let Err(config_error) = policy else {
                continue;
            };
            let info = from_info
                .iter()
                .find(|(n, _)| n == node)
                .map(|(_, answer)| answer);
            *policy = match info {
                Some(Ok(v)) => crate::client::info_field(v, "maxmemory_policy")
                    .ok_or_else(|| format!("{config_error}; INFO memory has no maxmemory_policy")),
                Some(Err(e)) => Err(format!("{config_error}; INFO memory: {e}")),
                None => Err(format!("{config_error}; INFO memory did not answer")),
            };
        }
    }
    for (node, policy) in policies {
        // A cluster names the master; a standalone error names the url.
        let with_node = |e: Error| match &node {
            Some(node) => e.with_context("node", node.clone()),
            None => e,
        };
        let server = node.clone().unwrap_or_else(|| config.servers().1);
        match policy {
            Ok(policy) if SAFE_POLICIES.contains(&policy.as_str()) => {}
            Ok(policy) => {
                return Err(with_node(
                    Error::config(format!(
                        "the Redis server at {server} has maxmemory-policy = {policy:?}, which \
                     deletes keys when it reaches maxmemory: this store's rows, index entries, \
                     insertion counter and layout marker would vanish silently. Set \
                     maxmemory-policy to noeviction (or a volatile-* policy: this backend \
                     sets no TTL), or {opt_in}"
                    ))
                    .with_operation(OP)
                    .with_context("setting", "maxmemory-policy")
                    .with_context("value", policy),
                ));
            }
            Err(why) => {
                return Err(with_node(Error::config(format!(
                    "cannot read the maxmemory-policy of the Redis server at {server} ({why}), so \
                     cannot tell whether it may evict this store's keys: allow CONFIG GET or \
                     INFO for this user, or {opt_in}"
                ))
                .with_operation(OP)
                .with_context("setting", "maxmemory-policy")));
            }
        }
    }
    Ok(())
}

/// `HGETALL` of a row (cells under keys of their own already in place:
/// [`HashRead::All`]): every cell, or `None` for a missing row.
fn parse_all_cells(answer: RV, partition: &str, key: &str) -> Result<Option<Cells>> {
    let items = array(answer).ok_or_else(|| bad_reply("HGETALL answer", "redis::get"))?;
    if items.is_empty() {
        return Ok(None);
    }
    let mut cells = Vec::new();
    let mut it = items.into_iter();
    while let (Some(name), Some(value)) = (it.next(), it.next()) {
        let (Some(name), Some(value)) = (bulk(name), bulk(value)) else {
            return Err(bad_reply("HGETALL entry", "redis::get"));
        };
        if let Some((CELL_MARK, field)) = split_field(name) {
            let field = utf8(field, "field name").map_err(|e| in_row(e, partition, key))?;
            let value = decode_cell(value, partition, key, &field)?;
            cells.push((field, value));
        }
    }
    Ok(Some(cells))
}

/// `HMGET row s f<a> f<b> ...` (cells under keys of their own already in
/// place: [`HashRead::Selected`]): the selected cells the row has, or
/// `None` for a missing row (no `s`).
fn parse_selected_cells(
    answer: RV,
    partition: &str,
    key: &str,
    fields: &[String],
) -> Result<Option<Cells>> {
    let items = array(answer).ok_or_else(|| bad_reply("HMGET answer", "redis::get"))?;
    let mut it = items.into_iter();
    match it.next() {
        None | Some(RV::Nil) => return Ok(None),
        Some(_) => {}
    }
    let mut cells = Vec::with_capacity(fields.len());
    for (field, value) in fields.iter().zip(it) {
        if let Some(value) = bulk(value) {
            cells.push((field.clone(), decode_cell(value, partition, key, field)?));
        }
    }
    Ok(Some(cells))
}

/// The list script's `{ partition, { key, seq, {tag pairs}, ... }, ... }`.
fn parse_list_bucket(
    answer: RV,
    out: &mut BTreeMap<String, Vec<(u64, String, Tag)>>,
) -> Result<()> {
    let bad = || bad_reply("the list script's answer", "redis::list");
    let mut it = array(answer).ok_or_else(bad)?.into_iter();
    while let (Some(p), Some(rows)) = (it.next(), it.next()) {
        let p = utf8(bulk(p).ok_or_else(bad)?, "partition name")?;
        let entry = out.entry(p.clone()).or_default();
        let mut rows = array(rows).ok_or_else(bad)?.into_iter();
        while let (Some(key), Some(seq), Some(tags)) = (rows.next(), rows.next(), rows.next()) {
            let key = utf8(bulk(key).ok_or_else(bad)?, "key")
                .map_err(|e| e.with_context("partition", p.clone()))?;
            let seq = bulk(seq).ok_or_else(bad)?;
            let seq: u64 = std::str::from_utf8(&seq)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    Error::corrupted("a row's insertion sequence is not a number")
                        .with_context("partition", p.clone())
                        .with_context("key", key.clone())
                })?;
            let tag = decode_tag(array(tags).ok_or_else(bad)?, &p, &key, None)?;
            entry.push((seq, key, tag));
        }
    }
    Ok(())
}
