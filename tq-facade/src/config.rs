//! The configuration: which backend, and its settings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use tq_core::{Error, Result, UpdatePolicy};

use crate::checkpoint_settings::{CHECKPOINT_TABLE, CheckpointSettings, parse_checkpoint_table};
use crate::registry::without_values;
use crate::update_settings::{UPDATE_TABLE, parse_update_table};
use crate::wait_settings::{WAIT_TABLE, parse_wait_table};

/// Environment variable naming the TOML config file.
pub const ENV_CONFIG: &str = "TQ_CONFIG";
/// Environment variable overriding the file's `backend`.
pub const ENV_BACKEND: &str = "TQ_BACKEND";
/// The backend used when nothing says otherwise.
pub const DEFAULT_BACKEND: &str = "memory";

/// Which backend to open, and the settings of each backend.
///
/// The TOML form: a top-level `backend` naming a registered backend
/// (default `"memory"`), one table per backend holding its settings, and
/// an optional `[update]` table: how `kv_update` retries, whatever the
/// backend (`max_attempts`, `initial_backoff_us`, `max_backoff_us`; so no
/// backend can be named `update`), and an optional `[wait]` table:
/// `poll_interval_ms`, how often `kv_wait` checks a backend that does not
/// push events (no backend can be named `wait`), and an optional
/// `[checkpoint]` table: object_store settings for checkpoint URLs
/// ([`CheckpointSettings`]; no backend can be named `checkpoint`).
/// Tables of backends other than the selected one may be present (so one
/// file can serve several deployments through `TQ_BACKEND`); they are
/// checked too. Any other top-level key is an error naming it.
///
/// ```toml
/// backend = "rocksdb"
///
/// [rocksdb]
/// path = "/var/lib/tq"
///
/// [memory]
/// capacity_bytes = 8589934592
/// ```
///
/// In code, a built-in backend's typed settings give the same
/// configuration (`Config::memory`, `Config::rocksdb`, `Config::redis`,
/// each behind its backend's cargo feature, or `From`), as do a custom
/// backend's ([`Config::with_typed_settings`]):
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> tq_facade::Result<()> {
/// use tq_facade::{Config, MemoryConfig, TransferQueue};
///
/// let config = Config::memory(MemoryConfig::new().with_capacity_bytes(8 << 30));
/// assert_eq!(
///     config,
///     Config::from_toml_str("backend = \"memory\"\n[memory]\ncapacity_bytes = 8589934592")?
/// );
/// let tq = TransferQueue::open(config).await?;
/// # let _ = tq; Ok(()) }
/// ```
///
/// Typed settings are stored as the settings table a file would hold for
/// them (serialized to TOML text and parsed back), so they are checked and
/// opened exactly as a file's, by the same code. A value TOML cannot hold
/// (an integer above `i64::MAX`, a path that is not UTF-8) makes
/// [`BackendRegistry::validate`](crate::BackendRegistry::validate) and so
/// every open fail with a `Config` error naming the setting.
///
/// `Debug` shows the backend and the names of the settings, never their
/// values, so passwords in URLs or settings cannot leak into logs.
#[derive(Clone, PartialEq)]
pub struct Config {
    backend: String,
    sections: toml::Table,
    /// Typed settings that could not be written as a settings table, by
    /// backend: the setting, when known, and why (never its value).
    unwritable: BTreeMap<String, (Option<String>, String)>,
    /// How `kv_update` retries (the `[update]` table).
    update: UpdatePolicy,
    /// How often `kv_wait` polls a backend that does not push (the
    /// `[wait]` table); `None`: the engine's default.
    poll_interval: Option<Duration>,
    /// object_store settings for checkpoint URLs (the `[checkpoint]` table).
    checkpoint: CheckpointSettings,
}

impl Default for Config {
    /// The in-memory backend with default settings.
    fn default() -> Self {
        Config::new(DEFAULT_BACKEND)
    }
}

impl Config {
    /// Selects `backend` with default settings.
    pub fn new(backend: impl Into<String>) -> Self {
        Config {
            backend: backend.into(),
            sections: toml::Table::new(),
            unwritable: BTreeMap::new(),
            update: UpdatePolicy::default(),
            poll_interval: None,
            checkpoint: CheckpointSettings::new(),
        }
    }

    /// How `kv_update` retries on the opened queue (contract U4); the
    /// `[update]` table of a file.
    pub fn update_policy(&self) -> UpdatePolicy {
        self.update
    }

    /// Sets [`Config::update_policy`].
    pub fn with_update_policy(mut self, policy: UpdatePolicy) -> Self {
        self.update = policy;
        self
    }

    /// How often `kv_wait` checks a backend that does not push events
    /// (contract W3; the `[wait]` table's `poll_interval_ms`); `None` keeps
    /// the engine's default, `Notifications::DEFAULT_POLL_INTERVAL`.
    pub fn poll_interval(&self) -> Option<Duration> {
        self.poll_interval
    }

    /// Sets [`Config::poll_interval`].
    pub fn with_poll_interval(mut self, interval: impl Into<Option<Duration>>) -> Self {
        self.poll_interval = interval.into();
        self
    }

    /// object_store settings for checkpoint URLs (the `[checkpoint]`
    /// table), used by `TransferQueue::save_checkpoint` and
    /// `load_checkpoint`.
    pub fn checkpoint_settings(&self) -> &CheckpointSettings {
        &self.checkpoint
    }

    /// Sets [`Config::checkpoint_settings`].
    pub fn with_checkpoint_settings(mut self, settings: CheckpointSettings) -> Self {
        self.checkpoint = settings;
        self
    }

    /// Sets the settings table of `backend` (any backend, selected or not).
    pub fn with_settings(mut self, backend: impl Into<String>, settings: toml::Table) -> Self {
        let backend = backend.into();
        self.unwritable.remove(&backend);
        self.sections.insert(backend, toml::Value::Table(settings));
        self
    }

    /// Sets the settings of `backend` (any backend, selected or not) from
    /// typed settings: the table a config file would hold for them, so a
    /// backend registered with
    /// [`BackendRegistry::register_typed`](crate::BackendRegistry::register_typed)
    /// reads back exactly `settings`. Use it for a custom backend's
    /// settings type (it needs `Serialize` as well as `Deserialize`); the
    /// built-ins have `Config::memory`, `Config::rocksdb` and
    /// `Config::redis`.
    ///
    /// Never fails here: settings TOML cannot hold (an integer above
    /// `i64::MAX`, a non-UTF-8 path, a value that is not a table of named
    /// settings) make every later
    /// [`validate`](crate::BackendRegistry::validate) and open a `Config`
    /// error naming the setting.
    ///
    /// ```
    /// use tq_facade::Config;
    /// use tq_facade::serde::Serialize;
    ///
    /// #[derive(Serialize)]
    /// #[serde(crate = "tq_facade::serde")]
    /// struct TinyConfig {
    ///     max_rows: usize,
    /// }
    ///
    /// let config = Config::new("tiny").with_typed_settings("tiny", &TinyConfig { max_rows: 10 });
    /// assert_eq!(config, Config::from_toml_str("backend = \"tiny\"\n[tiny]\nmax_rows = 10")?);
    /// # Ok::<(), tq_facade::Error>(())
    /// ```
    pub fn with_typed_settings<S: Serialize + ?Sized>(
        mut self,
        backend: impl Into<String>,
        settings: &S,
    ) -> Self {
        let backend = backend.into();
        match settings_table(settings) {
            Ok(table) => {
                self.unwritable.remove(&backend);
                self.sections.insert(backend, toml::Value::Table(table));
            }
            Err(why) => {
                self.sections.remove(&backend);
                self.unwritable.insert(backend, why);
            }
        }
        self
    }

    /// Selects another backend, keeping all settings tables.
    pub fn with_backend(mut self, backend: impl Into<String>) -> Self {
        self.backend = backend.into();
        self
    }

    /// Parses TOML text.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| syntax_error(text, &e))?;
        let backend = match table.remove("backend") {
            None => DEFAULT_BACKEND.to_owned(),
            Some(toml::Value::String(s)) => s,
            Some(other) => {
                return Err(Error::config(format!(
                    "setting `backend` must be a string, got {}",
                    other.type_str()
                ))
                .with_context("setting", "backend"));
            }
        };
        let update =
            engine_table(&mut table, UPDATE_TABLE, parse_update_table)?.unwrap_or_default();
        let poll_interval = engine_table(&mut table, WAIT_TABLE, parse_wait_table)?.flatten();
        let checkpoint =
            engine_table(&mut table, CHECKPOINT_TABLE, parse_checkpoint_table)?.unwrap_or_default();
        for (name, value) in &table {
            if !value.is_table() {
                return Err(Error::config(format!(
                    "unknown setting `{name}`: the top level holds only `backend`, the \
                     `[update]`, `[wait]` and `[checkpoint]` tables and one table per backend"
                ))
                .with_context("setting", name.clone()));
            }
        }
        Ok(Config {
            backend,
            sections: table,
            unwritable: BTreeMap::new(),
            update,
            poll_interval,
            checkpoint,
        })
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!("cannot read config file {}", path.display()))
                .with_context("path", path.display().to_string())
                .with_source(e)
        })?;
        Self::from_toml_str(&text).map_err(|e| e.with_context("path", path.display().to_string()))
    }

    /// The configuration the environment describes: the file `TQ_CONFIG`
    /// names, if set, else the default (in-memory); then `TQ_BACKEND`, if
    /// set, overrides the backend.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Config::from_env`] with a custom variable lookup (for tests and for
    /// programs that read their environment elsewhere).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let config = match lookup(ENV_CONFIG).filter(|p| !p.is_empty()) {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        Ok(match lookup(ENV_BACKEND).filter(|b| !b.is_empty()) {
            Some(backend) => config.with_backend(backend),
            None => config,
        })
    }

    /// The selected backend's name.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// The settings table of `backend`, if the configuration has one.
    pub fn settings(&self, backend: &str) -> Option<&toml::Table> {
        self.sections.get(backend).and_then(toml::Value::as_table)
    }

    /// The names of all settings tables.
    pub fn sections(&self) -> impl Iterator<Item = &str> {
        self.sections.keys().map(String::as_str)
    }

    /// A `Config` error naming the first backend (and setting) whose typed
    /// settings could not be written as a table, if any.
    pub(crate) fn check_unwritable(&self) -> Result<()> {
        let Some((backend, (setting, why))) = self.unwritable.iter().next() else {
            return Ok(());
        };
        let err = match setting {
            None => Error::config(format!("invalid [{backend}] settings: {why}")),
            Some(setting) => Error::config(format!(
                "invalid [{backend}] settings: setting `{setting}`: {why}"
            ))
            .with_context("setting", setting.clone()),
        };
        Err(err.with_context("backend", backend.clone()))
    }
}

/// The built-in backends' typed settings, each behind its cargo feature.
impl Config {
    /// Selects the in-memory backend (`"memory"`) with `settings`. Also
    /// `Config::from(settings)`.
    ///
    /// ```
    /// use tq_facade::{Config, MemoryConfig};
    ///
    /// let config = Config::memory(MemoryConfig::new().with_capacity_bytes(1 << 30));
    /// assert_eq!(config.backend(), "memory");
    /// ```
    #[cfg(feature = "memory")]
    pub fn memory(settings: tq_backend_memory::MemoryConfig) -> Self {
        Config::new(crate::builtin::MEMORY).with_typed_settings(crate::builtin::MEMORY, &settings)
    }

    /// Selects the RocksDB backend (`"rocksdb"`) with `settings`. Also
    /// `Config::from(settings)`.
    ///
    /// ```
    /// # #[cfg(feature = "rocksdb")] {
    /// use tq_facade::{Config, RocksDbConfig};
    ///
    /// let config = Config::rocksdb(RocksDbConfig::new("/var/lib/tq").with_sync_writes(false));
    /// assert_eq!(config.backend(), "rocksdb");
    /// # }
    /// ```
    #[cfg(feature = "rocksdb")]
    pub fn rocksdb(settings: tq_backend_rocksdb::RocksDbConfig) -> Self {
        Config::new(crate::builtin::ROCKSDB).with_typed_settings(crate::builtin::ROCKSDB, &settings)
    }

    /// Selects the Redis backend (`"redis"`) with `settings`. Also
    /// `Config::from(settings)`. The password stays out of `Debug` and of
    /// every error.
    ///
    /// ```
    /// # #[cfg(feature = "redis")] {
    /// use tq_facade::{Config, RedisConfig};
    ///
    /// let config = Config::redis(RedisConfig::standalone("redis://:secret@10.0.0.5:6379"));
    /// assert_eq!(config.backend(), "redis");
    /// assert!(!format!("{config:?}").contains("secret"));
    /// # }
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis(settings: tq_backend_redis::RedisConfig) -> Self {
        Config::new(crate::builtin::REDIS).with_typed_settings(crate::builtin::REDIS, &settings)
    }
}

#[cfg(feature = "memory")]
impl From<tq_backend_memory::MemoryConfig> for Config {
    /// `Config::memory`.
    fn from(settings: tq_backend_memory::MemoryConfig) -> Self {
        Config::memory(settings)
    }
}

#[cfg(feature = "rocksdb")]
impl From<tq_backend_rocksdb::RocksDbConfig> for Config {
    /// `Config::rocksdb`.
    fn from(settings: tq_backend_rocksdb::RocksDbConfig) -> Self {
        Config::rocksdb(settings)
    }
}

#[cfg(feature = "redis")]
impl From<tq_backend_redis::RedisConfig> for Config {
    /// `Config::redis`.
    fn from(settings: tq_backend_redis::RedisConfig) -> Self {
        Config::redis(settings)
    }
}

/// `settings` as the table a config file would hold: written as TOML text
/// and parsed back, so it is exactly what the file path would read, and
/// whatever TOML cannot hold is an error rather than a setting quietly
/// dropped. The error names the setting where it can, never its value.
fn settings_table<S: Serialize + ?Sized>(
    settings: &S,
) -> std::result::Result<toml::Table, (Option<String>, String)> {
    let why = match toml::to_string(settings) {
        Ok(text) => match text.parse::<toml::Table>() {
            Ok(table) => return Ok(table),
            Err(e) => e.message().trim().to_owned(),
        },
        Err(e) => e.to_string(),
    };
    let mut why = without_values(&why).replace('\n', "; ");
    if why.contains("too large") {
        why.push_str(&format!(" (a config integer is at most {})", i64::MAX));
    }
    Err((unwritable_setting(settings), why))
}

/// Where in `settings` TOML fails, as a path like `nodes[2]`, for the
/// message of [`settings_table`] (whose TOML serializer does not say): the
/// setting `serde_json` cannot write either (a non-UTF-8 path, an error of
/// the type's own), else the first integer above `i64::MAX` or none inside
/// a list.
fn unwritable_setting<S: Serialize + ?Sized>(settings: &S) -> Option<String> {
    use serde_json::Value as Json;
    let json = match serde_path_to_error::serialize(settings, serde_json::value::Serializer) {
        Ok(json) => json,
        Err(e) => {
            let path = e.path().to_string();
            return (path != "." && !path.is_empty()).then_some(path);
        }
    };
    let mut stack = vec![(String::new(), &json, false)];
    while let Some((path, value, in_list)) = stack.pop() {
        match value {
            Json::Number(n) if n.is_u64() && n.as_i64().is_none() => return Some(path),
            Json::Null if in_list => return Some(path),
            Json::Array(items) => stack.extend(
                items
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(i, v)| (format!("{path}[{i}]"), v, true)),
            ),
            Json::Object(map) => stack.extend(map.iter().rev().map(|(k, v)| {
                let path = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                (path, v, false)
            })),
            _ => {}
        }
    }
    None
}

/// Words that mark a line of the file as holding a secret: a password
/// setting, or a URL with credentials in it.
const SECRET_MARKERS: [&str; 6] = ["password", "passwd", "secret", "token", "access_key", "@"];

/// Takes the engine's table `name` out of the top level and parses it;
/// `None` if the file has none, a `Config` error naming it if it is not a
/// table.
fn engine_table<T>(
    table: &mut toml::Table,
    name: &'static str,
    parse: impl FnOnce(toml::Table) -> Result<T>,
) -> Result<Option<T>> {
    match table.remove(name) {
        None => Ok(None),
        Some(toml::Value::Table(t)) => parse(t).map(Some),
        Some(other) => Err(Error::config(format!(
            "`{name}` must be a table, got {}",
            other.type_str()
        ))
        .with_context("setting", name)),
    }
}

/// A TOML syntax error that says where, never what: `toml`'s own `Display`
/// quotes the offending line, which may hold a password. The parser's
/// message is kept unless the line looks like it holds a secret.
fn syntax_error(text: &str, e: &toml::de::Error) -> Error {
    let Some(span) = e.span() else {
        return Error::config("config is not valid TOML");
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_no = text[..start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let line = text[line_start..line_end].to_ascii_lowercase();
    let message = if SECRET_MARKERS.iter().any(|m| line.contains(m)) {
        "(not shown: the line holds a secret)".to_owned()
    } else {
        e.message().trim().replace('\n', "; ")
    };
    Error::config(format!(
        "config is not valid TOML at line {line_no}, column {column}: {message}"
    ))
    .with_context("line", line_no.to_string())
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Names<'a>(&'a toml::Table);
        impl fmt::Debug for Names<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut map = f.debug_map();
                for (section, value) in self.0 {
                    let keys: Vec<&str> = value
                        .as_table()
                        .map(|t| t.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    map.entry(section, &keys);
                }
                map.finish()
            }
        }
        let mut out = f.debug_struct("Config");
        out.field("backend", &self.backend)
            .field("settings", &Names(&self.sections))
            .field("update", &self.update)
            .field("poll_interval", &self.poll_interval)
            .field("checkpoint", &self.checkpoint);
        if !self.unwritable.is_empty() {
            out.field("unwritable", &self.unwritable.keys().collect::<Vec<_>>());
        }
        out.finish()
    }
}
