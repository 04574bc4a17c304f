//! [`RedisConfig`]: the settings of the Redis backend, one struct for a
//! standalone server and for a Redis Cluster.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tq_core::{Error, Result};

/// Default [`RedisConfig::key_prefix`].
pub const DEFAULT_KEY_PREFIX: &str = "tq";
/// Default [`RedisConfig::connect_timeout_ms`].
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Default [`RedisConfig::command_timeout_ms`].
pub const DEFAULT_COMMAND_TIMEOUT_MS: u64 = 60_000;
/// Default [`RedisConfig::buckets`] for a cluster.
pub const DEFAULT_CLUSTER_BUCKETS: u16 = 256;
/// Default [`RedisConfig::buckets`] for a standalone server.
pub const DEFAULT_STANDALONE_BUCKETS: u16 = 1;
/// Largest [`RedisConfig::buckets`] (the number of Redis Cluster slots).
pub const MAX_BUCKETS: u16 = 16_384;
/// Default [`RedisConfig::cell_key_bytes`].
pub const DEFAULT_CELL_KEY_BYTES: u64 = 16 * 1024;
/// Longest [`RedisConfig::key_prefix`], in bytes.
pub const MAX_KEY_PREFIX_BYTES: usize = 256;

/// Settings of [`crate::RedisBackend`]; the `[redis]` table of the facade's
/// TOML file deserializes into it. Unknown settings are an error.
///
/// Give exactly one of [`url`](Self::url) (a standalone server) or
/// [`cluster_nodes`](Self::cluster_nodes) (a Redis Cluster).
///
/// ```toml
/// [redis]
/// url = "redis://127.0.0.1:6379"      # or rediss:// for TLS
/// # cluster_nodes = ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]
/// password = "secret"                 # optional, overrides the URL's
/// # tls_ca_file = "/etc/redis/ca.pem"  # rediss:// only: trust this CA
/// key_prefix = "tq"
/// connect_timeout_ms = 5000
/// command_timeout_ms = 60000
/// # allow_evicting_policy = false     # true is LOSSY: see the setting
/// watch_buffer = 4096                 # events a watcher may fall behind by
/// cell_key_bytes = 16384              # cells this large get a key of their own
/// ```
///
/// In code: [`RedisConfig::standalone`] or [`RedisConfig::cluster`], then
/// the `with_*` methods for the settings to change:
///
/// ```
/// use tq_backend_redis::RedisConfig;
///
/// let config = RedisConfig::standalone("redis://10.0.0.5:6379/0")
///     .with_password("secret")
///     .with_key_prefix("run-42")
///     .with_command_timeout_ms(120_000);
/// assert!(config.validate().is_ok());
/// assert!(!format!("{config:?}").contains("secret"));
/// ```
///
/// `Debug` never shows the password, neither the setting nor one inside a URL.
///
/// `Serialize` writes the settings a TOML table would hold, by the same
/// names (settings that are `None` or an empty list are left out), so the
/// facade can check and open a config built in code exactly as one read
/// from a file. **It writes the password**, as given: never log serialized
/// settings.
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisConfig {
    /// The URL of a standalone server:
    /// `redis://[[username]:password@]host[:port][/db]`, or `rediss://...`
    /// for TLS (certificates checked against the Mozilla roots, or against
    /// [`tls_ca_file`](Self::tls_ca_file)). Default: none. Exactly one of
    /// `url` and `cluster_nodes` must be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,

    /// Seed nodes of a Redis Cluster, each a URL as in [`url`](Self::url)
    /// (all `redis://` or all `rediss://`); the other masters are discovered.
    /// Default: empty (standalone mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_nodes: Vec<String>,

    /// The ACL user name. Default: none (the URL's, else the `default`
    /// user). Overrides a user name given in the URL(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,

    /// The password. Default: none (the URL's, if any). Overrides a
    /// password given in the URL(s). Never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,

    /// A PEM file of CA certificates to trust for `rediss://` servers
    /// instead of the built-in public (Mozilla/webpki) roots, for a server
    /// whose certificate is self-signed or from a private CA. Only with
    /// `rediss://` URLs; applies to every cluster node. A missing,
    /// unreadable or certificate-less file is a `Config` error at open.
    /// Default: none (the built-in public roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,

    /// Prepended to every Redis key this backend writes, so several stores
    /// can share one server or cluster. May be empty; must not contain `{`
    /// or `}` (they would change the cluster hash slot); at most 256 bytes.
    /// Default: `"tq"`.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,

    /// How long to wait for a TCP (and TLS) connection, in milliseconds.
    /// A whole [`open`](crate::RedisBackend::open) (connect, handshake and
    /// its checks) gives up after `connect_timeout_ms` +
    /// `command_timeout_ms`. Default: 5000.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,

    /// How long to wait for the answer to one request (a pipeline), in
    /// milliseconds; `0` waits forever (but an open still gives up after
    /// `connect_timeout_ms` + 60000). Large values need time: 256 MiB
    /// take a few seconds on loopback. Default: 60000.
    #[serde(default = "default_command_timeout_ms")]
    pub command_timeout_ms: u64,

    /// How many buckets the rows of a partition are spread over. Each
    /// bucket is one Redis Cluster hash slot, so more buckets spread a
    /// partition over more masters; `kv_list` reads every bucket. All
    /// clients of one store must use the same value (it is recorded in the
    /// store at the first open and checked at every open). 1 to 16384.
    /// Default: 256 for a cluster, 1 for a standalone server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<u16>,

    /// **LOSSY when `true`: acknowledged rows can vanish silently.** Opens
    /// the store even when the server's `maxmemory-policy` may evict this
    /// store's keys (`allkeys-lru`, `allkeys-lfu`, `allkeys-random`, or a
    /// policy this version does not know), or when the policy cannot be
    /// read (`CONFIG` and `INFO` both refused). Under such a policy, once
    /// the server reaches `maxmemory` it deletes rows, index entries, the
    /// insertion counter or the layout marker without telling anyone:
    /// rows disappear, listings lose keys, insertion order restarts. Only
    /// for a pure cache whose contents may be lost.
    ///
    /// With `false` (the default), [`RedisBackend::open`](crate::RedisBackend::open)
    /// refuses such a server with a `Config` error naming
    /// `maxmemory-policy` and its value. `noeviction` and the `volatile-*`
    /// policies are always accepted: `volatile-*` only evicts keys with a
    /// TTL, and this backend never sets one.
    #[serde(default)]
    pub allow_evicting_policy: bool,

    /// How many events a `kv_watch` stream (or a waiting `kv_wait`) may
    /// fall behind by before it loses the oldest and reads a `Lagged` item
    /// (contract W2). The events are read off the socket into this buffer
    /// as they arrive, so a slow watcher never makes the server hold them
    /// (nor drop the connection for its output buffer limit). Default: 4096
    /// (`WatchHub::DEFAULT_CAPACITY`); 0 counts as 1.
    #[serde(
        default = "default_watch_buffer",
        skip_serializing_if = "is_default_watch_buffer"
    )]
    pub watch_buffer: usize,

    /// Cells whose stored bytes (codec header and payload) reach this size
    /// are kept under a Redis key of their own, written with `SET`, rather
    /// than in the row's hash: Redis keeps a `SET` argument in the buffer it
    /// read it into, where `HSET` stores a copy, and that copy was a third
    /// of the server's work in a put of 32 KiB cells (see the crate docs,
    /// "Where a cell lives"); with 18 KiB cells puts ran 15–23% and gets
    /// 6–10% faster, with 8 KiB cells neither gained (BENCHMARKS.md, "Cells
    /// under keys of their own"). Each such cell costs the server one more
    /// key (about 100 bytes), and a get of its row one more round trip.
    /// Smaller cells stay in the hash. Rows of at most 8 KiB of values
    /// without such a cell, and every conditional write (`kv_update`), are
    /// written by one script with all their cells in the hash. Any value is
    /// safe: it only decides where a write puts a cell, and every reader
    /// reads both. `0` counts as 1. Default: 16384.
    #[serde(
        default = "default_cell_key_bytes",
        skip_serializing_if = "is_default_cell_key_bytes"
    )]
    pub cell_key_bytes: u64,
}

fn default_cell_key_bytes() -> u64 {
    DEFAULT_CELL_KEY_BYTES
}

fn is_default_cell_key_bytes(bytes: &u64) -> bool {
    *bytes == DEFAULT_CELL_KEY_BYTES
}

fn default_watch_buffer() -> usize {
    tq_core::WatchHub::DEFAULT_CAPACITY
}

fn is_default_watch_buffer(events: &usize) -> bool {
    *events == default_watch_buffer()
}

fn default_key_prefix() -> String {
    DEFAULT_KEY_PREFIX.to_owned()
}

fn default_connect_timeout_ms() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_MS
}

fn default_command_timeout_ms() -> u64 {
    DEFAULT_COMMAND_TIMEOUT_MS
}

impl Default for RedisConfig {
    /// No server (set `url` or `cluster_nodes`), every other setting at its
    /// default.
    fn default() -> Self {
        RedisConfig {
            url: None,
            cluster_nodes: Vec::new(),
            username: None,
            password: None,
            tls_ca_file: None,
            key_prefix: default_key_prefix(),
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            command_timeout_ms: DEFAULT_COMMAND_TIMEOUT_MS,
            buckets: None,
            allow_evicting_policy: false,
            watch_buffer: default_watch_buffer(),
            cell_key_bytes: DEFAULT_CELL_KEY_BYTES,
        }
    }
}

impl RedisConfig {
    /// A standalone server at `url`, other settings at their defaults.
    pub fn standalone(url: impl Into<String>) -> Self {
        RedisConfig {
            url: Some(url.into()),
            ..Default::default()
        }
    }

    /// A cluster with the seed `nodes`, other settings at their defaults.
    pub fn cluster<S: Into<String>>(nodes: impl IntoIterator<Item = S>) -> Self {
        RedisConfig {
            cluster_nodes: nodes.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }

    /// Sets [`key_prefix`](Self::key_prefix).
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Sets [`password`](Self::password).
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Sets [`tls_ca_file`](Self::tls_ca_file).
    pub fn with_tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_ca_file = Some(path.into());
        self
    }

    /// Sets [`command_timeout_ms`](Self::command_timeout_ms).
    pub fn with_command_timeout_ms(mut self, ms: u64) -> Self {
        self.command_timeout_ms = ms;
        self
    }

    /// Sets [`username`](Self::username).
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Sets [`connect_timeout_ms`](Self::connect_timeout_ms).
    pub fn with_connect_timeout_ms(mut self, ms: u64) -> Self {
        self.connect_timeout_ms = ms;
        self
    }

    /// Sets [`buckets`](Self::buckets): a count, or `None` for the mode's
    /// default. Checked by [`validate`](Self::validate) (1 to 16384).
    pub fn with_buckets(mut self, buckets: impl Into<Option<u16>>) -> Self {
        self.buckets = buckets.into();
        self
    }

    /// Sets [`allow_evicting_policy`](Self::allow_evicting_policy).
    /// **`true` is LOSSY**: read that setting's documentation first.
    pub fn with_allow_evicting_policy(mut self, allow: bool) -> Self {
        self.allow_evicting_policy = allow;
        self
    }

    /// Sets [`watch_buffer`](Self::watch_buffer), in events.
    pub fn with_watch_buffer(mut self, events: usize) -> Self {
        self.watch_buffer = events;
        self
    }

    /// Sets [`cell_key_bytes`](Self::cell_key_bytes).
    pub fn with_cell_key_bytes(mut self, bytes: u64) -> Self {
        self.cell_key_bytes = bytes;
        self
    }

    /// Whether this is a cluster configuration.
    pub fn is_cluster(&self) -> bool {
        !self.cluster_nodes.is_empty()
    }

    /// The bucket count in effect (the setting or the mode's default).
    pub fn effective_buckets(&self) -> u16 {
        self.buckets.unwrap_or(if self.is_cluster() {
            DEFAULT_CLUSTER_BUCKETS
        } else {
            DEFAULT_STANDALONE_BUCKETS
        })
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms.max(1))
    }

    pub(crate) fn command_timeout(&self) -> Option<Duration> {
        (self.command_timeout_ms > 0).then(|| Duration::from_millis(self.command_timeout_ms))
    }

    /// What an open adds to the connect timeout for its requests:
    /// [`command_timeout_ms`](Self::command_timeout_ms), or its default
    /// when that is `0` (no timeout for requests; an open still gives up).
    pub(crate) fn open_checks_timeout(&self) -> Duration {
        Duration::from_millis(match self.command_timeout_ms {
            0 => DEFAULT_COMMAND_TIMEOUT_MS,
            ms => ms,
        })
    }

    /// The server(s) this configuration names, for messages: the setting
    /// (`url` or `cluster_nodes`) and its URL(s), redacted.
    pub(crate) fn servers(&self) -> (&'static str, String) {
        match &self.url {
            Some(url) => ("url", redact_url(url)),
            None => (
                "cluster_nodes",
                self.cluster_nodes
                    .iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        }
    }

    /// Checks the settings that need no server; errors name the setting.
    pub fn validate(&self) -> Result<()> {
        let err = |setting: &'static str, msg: String| {
            Error::config(msg)
                .with_operation("redis::open")
                .with_context("setting", setting)
        };
        match (&self.url, self.cluster_nodes.is_empty()) {
            (Some(_), false) => {
                return Err(err(
                    "url",
                    "set either `url` (standalone) or `cluster_nodes` (cluster), not both".into(),
                ));
            }
            (None, true) => {
                return Err(err(
                    "url",
                    "no server: set `url` (standalone) or `cluster_nodes` (cluster)".into(),
                ));
            }
            _ => {}
        }
        let urls: Vec<&String> = self.url.iter().chain(&self.cluster_nodes).collect();
        let setting = if self.is_cluster() {
            "cluster_nodes"
        } else {
            "url"
        };
        let mut tls = None;
        for u in &urls {
            let scheme_tls = if u.starts_with("rediss://") {
                true
            } else if u.starts_with("redis://") {
                false
            } else {
                return Err(err(
                    setting,
                    format!(
                        "`{setting}` {:?} must start with redis:// or rediss://",
                        redact_url(u)
                    ),
                ));
            };
            if *tls.get_or_insert(scheme_tls) != scheme_tls {
                return Err(err(
                    setting,
                    "mixes redis:// and rediss:// nodes; use one scheme".into(),
                ));
            }
        }
        if let Some(path) = &self.tls_ca_file
            && tls != Some(true)
        {
            return Err(err(
                "tls_ca_file",
                format!(
                    "`tls_ca_file` {:?} is set but `{setting}` is not a rediss:// (TLS) URL",
                    path.display()
                ),
            )
            .with_context("path", path.display().to_string()));
        }
        if self.key_prefix.contains(['{', '}']) {
            return Err(err(
                "key_prefix",
                format!(
                    "`key_prefix` {:?} must not contain `{{` or `}}`",
                    self.key_prefix
                ),
            ));
        }
        if self.key_prefix.len() > MAX_KEY_PREFIX_BYTES {
            return Err(err(
                "key_prefix",
                format!(
                    "`key_prefix` is {} bytes, the limit is {MAX_KEY_PREFIX_BYTES}",
                    self.key_prefix.len()
                ),
            ));
        }
        if let Some(b) = self.buckets
            && !(1..=MAX_BUCKETS).contains(&b)
        {
            return Err(err(
                "buckets",
                format!("`buckets` is {b}, it must be 1 to {MAX_BUCKETS}"),
            ));
        }
        Ok(())
    }

    /// The CA certificates of [`tls_ca_file`](Self::tls_ca_file) for the
    /// redis client, or `None` (the built-in public roots).
    pub(crate) fn tls_certificates(&self) -> Result<Option<redis::TlsCertificates>> {
        let Some(path) = &self.tls_ca_file else {
            return Ok(None);
        };
        let pem = read_ca_file(path)?;
        Ok(Some(redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem),
        }))
    }

    /// Whether the server URL(s) use TLS (`rediss://`).
    pub fn uses_tls(&self) -> bool {
        self.url
            .iter()
            .chain(&self.cluster_nodes)
            .any(|u| u.starts_with("rediss://"))
    }
}

/// Reads a `tls_ca_file`: a permanent `Config` error naming the setting and
/// the path when it cannot be read or holds no PEM certificate.
fn read_ca_file(path: &Path) -> Result<Vec<u8>> {
    let err = |msg: String| {
        Error::config(msg)
            .with_operation("redis::open")
            .with_context("setting", "tls_ca_file")
            .with_context("path", path.display().to_string())
    };
    let pem = std::fs::read(path).map_err(|e| {
        err(format!(
            "cannot read `tls_ca_file` {:?}: {e}",
            path.display()
        ))
        .with_source(e)
    })?;
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(err(format!(
            "`tls_ca_file` {:?} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(pem)
}

/// Where the part of `url` that may hold credentials starts: after
/// `scheme://`, or at the start of a string without a scheme.
fn userinfo_start(url: &str, at: usize) -> usize {
    match url.find("://").map(|i| i + 3) {
        Some(start) if start <= at => start,
        _ => 0,
    }
}

/// Query parameters that carry a password (redis-rs reads `pass` in
/// `redis+unix://` URLs).
const PASSWORD_PARAMS: [&str; 2] = ["pass=", "password="];

/// The byte ranges of the values of [`PASSWORD_PARAMS`] in `url`'s query.
fn password_params(url: &str) -> Vec<std::ops::Range<usize>> {
    let Some(query) = url.find('?') else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut pos = query + 1;
    for param in url[query + 1..].split('&') {
        for name in PASSWORD_PARAMS {
            if let Some(head) = param.get(..name.len())
                && head.eq_ignore_ascii_case(name)
            {
                let value = param[name.len()..].split('#').next().unwrap_or("");
                out.push(pos + name.len()..pos + name.len() + value.len());
            }
        }
        pos += param.len() + 1;
    }
    out
}

/// `url` with everything that may hold a credential replaced by `***`, for
/// messages and `Debug`: the whole user-info part (from `scheme://`, or
/// the start of the string, to the last `@`) and the value of a `pass=`
/// query parameter. Works on any string, whether or not it parses as a URL
/// (a password may contain `/`, `@`, `:`, `?`, `#` or `%`-escapes).
pub(crate) fn redact_url(url: &str) -> String {
    let (head, tail) = match url.rfind('@') {
        Some(at) => {
            let start = userinfo_start(url, at);
            (format!("{}***", &url[..start]), &url[at..])
        }
        None => (String::new(), url),
    };
    let mut out = head;
    let mut last = 0;
    for range in password_params(tail) {
        out.push_str(&tail[last..range.start]);
        out.push_str("***");
        last = range.end;
    }
    out.push_str(&tail[last..]);
    out
}

/// `%XX` escapes decoded (invalid ones kept as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The secrets of a configuration: the `password` setting and every
/// credential inside its URLs (as written and `%`-decoded), so that any
/// text about to leave the backend can be checked and scrubbed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Secrets {
    /// Longest first, none empty.
    texts: Vec<String>,
}

impl Secrets {
    /// The secrets of `config`.
    pub(crate) fn of(config: &RedisConfig) -> Secrets {
        let mut texts: Vec<String> = config.password.iter().cloned().collect();
        for url in config.url.iter().chain(&config.cluster_nodes) {
            if let Some(at) = url.rfind('@') {
                let userinfo = &url[userinfo_start(url, at)..at];
                // `user:password`, or a lone word that may be a password.
                texts.push(match userinfo.split_once(':') {
                    Some((_, pw)) => pw.to_owned(),
                    None => userinfo.to_owned(),
                });
            }
            for range in password_params(url) {
                texts.push(url[range].to_owned());
            }
        }
        let decoded: Vec<String> = texts.iter().map(|t| percent_decode(t)).collect();
        texts.extend(decoded);
        texts.retain(|t| !t.is_empty());
        texts.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        texts.dedup();
        Secrets { texts }
    }

    /// Whether `text` contains a secret.
    fn appears_in(&self, text: &str) -> bool {
        self.texts.iter().any(|t| text.contains(t.as_str()))
    }

    /// `text` with every secret replaced by `***`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for t in &self.texts {
            if out.contains(t.as_str()) {
                out = out.replace(t.as_str(), "***");
            }
        }
        out
    }

    /// `e` unchanged when no secret shows in it (its `Display`, `Debug`, or
    /// those of any error in its source chain); otherwise the same error
    /// (kind, operation, temporary or not) with the secrets scrubbed from
    /// its message and context, and its source replaced by the scrubbed
    /// text of the source chain.
    pub(crate) fn redact_error(&self, e: Error) -> Error {
        use std::error::Error as _;
        if self.texts.is_empty() {
            return e;
        }
        let mut shown = format!("{e}\n{e:?}");
        let mut chain = String::new();
        let mut source = e.source();
        while let Some(s) = source {
            shown.push_str(&format!("\n{s}\n{s:?}"));
            if !chain.is_empty() {
                chain.push_str(": ");
            }
            chain.push_str(&s.to_string());
            source = s.source();
        }
        if !self.appears_in(&shown) {
            return e;
        }
        // Innermost first, as the error recorded them.
        let mut out = e
            .operations()
            .rev()
            .fold(
                Error::new(e.kind(), self.scrub(e.message())),
                Error::with_operation,
            )
            .set_temporary(e.is_temporary());
        for (key, value) in e.context() {
            out = out.with_context(key, self.scrub(value));
        }
        if e.source().is_some() {
            out = out.with_source(RedactedSource(self.scrub(&chain)));
        }
        out
    }
}

/// The text of an error chain that held a secret, with the secret scrubbed.
#[derive(Debug)]
struct RedactedSource(String);

impl fmt::Display for RedactedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedactedSource {}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field(
                "cluster_nodes",
                &self
                    .cluster_nodes
                    .iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>(),
            )
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("tls_ca_file", &self.tls_ca_file)
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("command_timeout_ms", &self.command_timeout_ms)
            .field("buckets", &self.buckets)
            .field("allow_evicting_policy", &self.allow_evicting_policy)
            .field("watch_buffer", &self.watch_buffer)
            .field("cell_key_bytes", &self.cell_key_bytes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_passwords_everywhere() {
        let mut cfg = RedisConfig::standalone("rediss://alice:hunter2@db.example:6380/0")
            .with_password("s3cret");
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
        assert!(shown.contains("db.example:6380"), "{shown}");
        cfg.url = None;
        cfg.cluster_nodes = vec!["redis://:pw1@a:1".into(), "redis://u:pw2@b:2".into()];
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("pw1") && !shown.contains("pw2"), "{shown}");
    }

    #[test]
    fn redact_leaves_plain_urls_alone() {
        assert_eq!(redact_url("redis://h:1/2"), "redis://h:1/2");
        assert_eq!(redact_url("redis://:p@h:1"), "redis://***@h:1");
        assert_eq!(redact_url("redis://u:p@@h:1"), "redis://***@h:1");
        assert_eq!(redact_url("nonsense"), "nonsense");
    }

    #[test]
    fn redact_does_not_need_a_parseable_url() {
        for (url, want) in [
            ("redis://:pa/ss@127.0.0.1:1", "redis://***@127.0.0.1:1"),
            ("redis://u:pa/s@s@h:1/0", "redis://***@h:1/0"),
            ("redis://:a%2Fb@h", "redis://***@h"),
            ("redis://:p?q#r@h", "redis://***@h"),
            ("redis://:pw@", "redis://***@"),
            (":pw@h:1", "***@h:1"),
            ("x:pw@redis://h", "***@redis://h"),
            (
                "redis://h/?paaaé=1&passworé=2&pass=",
                "redis://h/?paaaé=1&passworé=2&pass=***",
            ),
            ("redis://h/?PASSWORD=x#y", "redis://h/?PASSWORD=***#y"),
            ("", ""),
            ("@", "***@"),
            (
                "redis+unix:///tmp/s?db=1&pass=pw&x=1",
                "redis+unix:///tmp/s?db=1&pass=***&x=1",
            ),
        ] {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn secrets_are_found_and_scrubbed_from_errors() {
        let mut cfg = RedisConfig::cluster(["redis://u:a%2Fb@h:1", "redis://:c/d@h:2"]);
        cfg.password = Some("setting-pw".into());
        let secrets = Secrets::of(&cfg);
        for t in ["a%2Fb", "a/b", "c/d", "setting-pw"] {
            assert!(secrets.texts.iter().any(|s| s == t), "{t}: {secrets:?}");
        }
        let e = Error::config("saw a/b and setting-pw")
            .with_operation("redis::open")
            .with_context("url", "redis://u:a%2Fb@h:1")
            .with_source(std::io::Error::other("inner c/d"));
        let e = secrets.redact_error(e);
        let shown = format!("{e} {e:?} {:?}", std::error::Error::source(&e));
        for t in ["a%2Fb", "a/b", "c/d", "setting-pw"] {
            assert!(!shown.contains(t), "{t}: {shown}");
        }
        assert_eq!(e.kind(), tq_core::ErrorKind::Config);
        assert_eq!(e.operation(), "redis::open");
        assert!(shown.contains("inner ***"), "{shown}");
        // Without a secret in it, an error is left as it is.
        let clean = secrets
            .redact_error(Error::unexpected("fine").with_source(std::io::Error::other("io")));
        assert!(
            std::error::Error::source(&clean)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .is_some()
        );
    }

    /// A config with every setting away from its default.
    fn everything_set() -> RedisConfig {
        RedisConfig::standalone("rediss://alice:hunter2@db.example:6380/1")
            .with_username("bob")
            .with_password("s3cret")
            .with_tls_ca_file("/etc/ca.pem")
            .with_key_prefix("run-7")
            .with_connect_timeout_ms(1234)
            .with_command_timeout_ms(0)
            .with_buckets(16)
            .with_allow_evicting_policy(true)
            .with_watch_buffer(16)
            .with_cell_key_bytes(4096)
    }

    #[test]
    fn builders_set_each_setting() {
        let cfg = everything_set();
        assert_eq!(cfg.username.as_deref(), Some("bob"));
        assert_eq!(cfg.password.as_deref(), Some("s3cret"));
        assert_eq!(cfg.tls_ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert_eq!(cfg.key_prefix, "run-7");
        assert_eq!(cfg.connect_timeout_ms, 1234);
        assert_eq!(cfg.command_timeout_ms, 0);
        assert_eq!(cfg.buckets, Some(16));
        assert!(cfg.allow_evicting_policy);
        assert_eq!(cfg.watch_buffer, 16);
        assert_eq!(cfg.cell_key_bytes, 4096);
        assert_eq!(cfg.with_buckets(None).effective_buckets(), 1);
    }

    #[test]
    fn serialized_settings_read_back_as_the_same_config() {
        for cfg in [
            RedisConfig::standalone("redis://h:1"),
            RedisConfig::cluster(["redis://a:1", "redis://b:2"]).with_buckets(64),
            everything_set(),
        ] {
            let text = toml::to_string(&cfg).unwrap();
            let back: RedisConfig = toml::from_str(&text).unwrap();
            assert_eq!(back, cfg, "{text}");
        }
        // Unset settings are left out, as a file would leave them out.
        let text = toml::to_string(&RedisConfig::standalone("redis://h:1")).unwrap();
        for absent in [
            "cluster_nodes",
            "username",
            "password",
            "tls_ca_file",
            "buckets",
            "watch_buffer",
            "cell_key_bytes",
        ] {
            assert!(!text.contains(absent), "{absent}: {text}");
        }
        let small = RedisConfig::standalone("redis://h:1").with_watch_buffer(8);
        let text = toml::to_string(&small).unwrap();
        assert!(text.contains("watch_buffer = 8"), "{text}");
        assert_eq!(toml::from_str::<RedisConfig>(&text).unwrap(), small);
    }

    #[test]
    fn toml_defaults_and_unknown_settings() {
        let cfg: RedisConfig = toml::from_str("url = \"redis://127.0.0.1:1\"").unwrap();
        assert_eq!(cfg.key_prefix, "tq");
        assert_eq!(cfg.connect_timeout_ms, 5000);
        assert_eq!(cfg.command_timeout_ms, 60000);
        assert_eq!(cfg.effective_buckets(), 1);
        assert_eq!(cfg.watch_buffer, tq_core::WatchHub::DEFAULT_CAPACITY);
        assert_eq!(cfg.cell_key_bytes, 16 * 1024);
        cfg.validate().unwrap();
        let err = toml::from_str::<RedisConfig>("url = \"redis://h\"\npasword = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("pasword"), "{err}");
        let cluster: RedisConfig = toml::from_str("cluster_nodes = [\"redis://h:1\"]").unwrap();
        assert_eq!(cluster.effective_buckets(), 256);
    }

    #[test]
    fn validation_names_the_setting() {
        let check = |cfg: RedisConfig, setting: &str| {
            let e = cfg.validate().unwrap_err();
            assert_eq!(e.kind(), tq_core::ErrorKind::Config);
            assert_eq!(e.context_value("setting"), Some(setting), "{e}");
        };
        check(RedisConfig::default(), "url");
        check(
            RedisConfig {
                cluster_nodes: vec!["redis://a".into()],
                ..RedisConfig::standalone("redis://b")
            },
            "url",
        );
        check(RedisConfig::standalone("http://h"), "url");
        check(
            RedisConfig::cluster(["redis://a", "rediss://b"]),
            "cluster_nodes",
        );
        check(
            RedisConfig::standalone("redis://h").with_key_prefix("a{b"),
            "key_prefix",
        );
        check(
            RedisConfig {
                buckets: Some(0),
                ..RedisConfig::standalone("redis://h")
            },
            "buckets",
        );
        assert!(RedisConfig::standalone("rediss://h").uses_tls());
        check(
            RedisConfig::standalone("redis://h").with_tls_ca_file("/ca.pem"),
            "tls_ca_file",
        );
        check(
            RedisConfig::cluster(["redis://a"]).with_tls_ca_file("/ca.pem"),
            "tls_ca_file",
        );
        RedisConfig::cluster(["rediss://a"])
            .with_tls_ca_file("/ca.pem")
            .validate()
            .unwrap();
    }

    #[test]
    fn tls_ca_file_from_toml_and_unreadable_files() {
        let cfg: RedisConfig =
            toml::from_str("url = \"rediss://h:1\"\ntls_ca_file = \"/nowhere/ca.pem\"").unwrap();
        assert_eq!(
            cfg.tls_ca_file.as_deref(),
            Some(Path::new("/nowhere/ca.pem"))
        );
        cfg.validate().unwrap();
        let e = cfg.tls_certificates().unwrap_err();
        assert_eq!(e.kind(), tq_core::ErrorKind::Config);
        assert!(!e.is_temporary());
        assert_eq!(e.context_value("setting"), Some("tls_ca_file"), "{e}");
        assert_eq!(e.context_value("path"), Some("/nowhere/ca.pem"), "{e}");
        assert!(e.to_string().contains("/nowhere/ca.pem"), "{e}");
        // A file without a certificate in it.
        let not_pem = std::env::temp_dir().join(format!("tq-not-pem-{}", std::process::id()));
        std::fs::write(&not_pem, "hello").unwrap();
        let e = RedisConfig::standalone("rediss://h")
            .with_tls_ca_file(&not_pem)
            .tls_certificates()
            .unwrap_err();
        let _ = std::fs::remove_file(&not_pem);
        assert_eq!(e.kind(), tq_core::ErrorKind::Config);
        assert_eq!(e.context_value("setting"), Some("tls_ca_file"), "{e}");
        assert!(
            RedisConfig::standalone("rediss://h")
                .tls_certificates()
                .unwrap()
                .is_none()
        );
    }
}
