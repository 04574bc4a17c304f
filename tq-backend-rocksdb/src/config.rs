//! [`RocksDbConfig`]: the settings of the RocksDB backend, read from the
//! `[rocksdb]` table of the facade's TOML file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tq_core::{Error, Result};

/// Block compression of the backend's SST and blob files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// No compression.
    None,
    /// LZ4: fast, modest ratio. The default.
    #[default]
    Lz4,
    /// Zstandard: slower, better ratio.
    Zstd,
}

impl Compression {
    pub(crate) fn to_rocksdb(self) -> rocksdb::DBCompressionType {
        match self {
            Compression::None => rocksdb::DBCompressionType::None,
            Compression::Lz4 => rocksdb::DBCompressionType::Lz4,
            Compression::Zstd => rocksdb::DBCompressionType::Zstd,
        }
    }
}

/// Settings of [`crate::RocksDbBackend`].
///
/// Only `path` is required. In the facade's TOML file:
///
/// ```toml
/// backend = "rocksdb"
///
/// [rocksdb]
/// path = "/var/lib/tq/store"
/// sync_writes = false
/// compression = "zstd"
/// ```
///
/// In code, the same settings: [`RocksDbConfig::new`] and the `with_*`
/// methods.
///
/// ```
/// use tq_backend_rocksdb::{Compression, RocksDbConfig};
///
/// let config = RocksDbConfig::new("/var/lib/tq/store")
///     .with_sync_writes(false)
///     .with_compression(Compression::Zstd);
/// assert!(config.validate().is_ok());
/// ```
///
/// Unknown settings are rejected (`deny_unknown_fields`), and
/// [`RocksDbBackend::open`](crate::RocksDbBackend::open) checks every value,
/// failing with [`tq_core::ErrorKind::Config`] naming the setting.
///
/// `Serialize` writes the settings a TOML table would hold, by the same
/// names, so the facade checks and opens a config built in code exactly as
/// one read from a file. (A `path` that is not UTF-8 cannot be serialized.)
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RocksDbConfig {
    /// Directory of the store. Required; must not be empty.
    pub path: PathBuf,
    /// Create the store (and missing parent directories) if `path` holds
    /// none. Default `true`; with `false`, opening a missing store is a
    /// `Config` error.
    #[serde(default = "defaults::create_if_missing")]
    pub create_if_missing: bool,
    /// `fsync` the write-ahead log before a put or clear returns. Default
    /// `true`: an acknowledged write survives a power loss or kernel crash.
    /// With `false`, an acknowledged write survives the process being killed
    /// (the log is in the OS page cache) but the last moments of writes may
    /// be lost on power loss; every call stays atomic either way.
    #[serde(default = "defaults::sync_writes")]
    pub sync_writes: bool,
    /// Compression of SST and blob files: `"none"`, `"lz4"` or `"zstd"`.
    /// Default `"lz4"`.
    #[serde(default)]
    pub compression: Compression,
    /// Size of the LRU block cache shared by all column families, in bytes.
    /// Default 64 MiB; `0` turns the block cache off.
    #[serde(default = "defaults::block_cache_bytes")]
    pub block_cache_bytes: u64,
    /// Size of one memtable (RocksDB `write_buffer_size`) per column family,
    /// in bytes. Default 64 MiB; at least 64 KiB.
    #[serde(default = "defaults::write_buffer_bytes")]
    pub write_buffer_bytes: u64,
    /// Threads for flushes and compactions (RocksDB `max_background_jobs`).
    /// Default 2; 1 to 256.
    #[serde(default = "defaults::max_background_jobs")]
    pub max_background_jobs: u32,
    /// Open file handles RocksDB may keep (`max_open_files`). Default `-1`
    /// (unlimited); otherwise at least 16.
    #[serde(default = "defaults::max_open_files")]
    pub max_open_files: i32,
    /// Keep large cell values in blob files (RocksDB's integrated BlobDB) so
    /// compactions do not rewrite tensor payloads. Default `true`.
    #[serde(default = "defaults::blob_files")]
    pub blob_files: bool,
    /// With `blob_files`, values of at least this many bytes go to blob
    /// files. Default 64 KiB.
    #[serde(default = "defaults::blob_min_bytes")]
    pub blob_min_bytes: u64,
    /// How many events a `kv_watch` stream (or a waiting `kv_wait`) may
    /// fall behind by before it loses the oldest and reads a `Lagged` item
    /// (contract W2). Default 4096 (`tq_core::WatchHub::DEFAULT_CAPACITY`);
    /// at least 1.
    #[serde(default = "defaults::watch_buffer")]
    pub watch_buffer: usize,
}

mod defaults {
    pub fn create_if_missing() -> bool {
        true
    }
    pub fn sync_writes() -> bool {
        true
    }
    pub fn block_cache_bytes() -> u64 {
        64 << 20
    }
    pub fn write_buffer_bytes() -> u64 {
        64 << 20
    }
    pub fn max_background_jobs() -> u32 {
        2
    }
    pub fn max_open_files() -> i32 {
        -1
    }
    pub fn blob_files() -> bool {
        true
    }
    pub fn blob_min_bytes() -> u64 {
        64 << 10
    }
    pub fn watch_buffer() -> usize {
        tq_core::WatchHub::DEFAULT_CAPACITY
    }
}

/// Smallest accepted `write_buffer_bytes`.
const MIN_WRITE_BUFFER_BYTES: u64 = 64 << 10;

impl RocksDbConfig {
    /// The defaults, with the store at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        RocksDbConfig {
            path: path.into(),
            create_if_missing: defaults::create_if_missing(),
            sync_writes: defaults::sync_writes(),
            compression: Compression::default(),
            block_cache_bytes: defaults::block_cache_bytes(),
            write_buffer_bytes: defaults::write_buffer_bytes(),
            max_background_jobs: defaults::max_background_jobs(),
            max_open_files: defaults::max_open_files(),
            blob_files: defaults::blob_files(),
            blob_min_bytes: defaults::blob_min_bytes(),
            watch_buffer: defaults::watch_buffer(),
        }
    }

    /// Sets [`create_if_missing`](Self::create_if_missing).
    pub fn with_create_if_missing(mut self, yes: bool) -> Self {
        self.create_if_missing = yes;
        self
    }

    /// Sets [`sync_writes`](Self::sync_writes).
    pub fn with_sync_writes(mut self, yes: bool) -> Self {
        self.sync_writes = yes;
        self
    }

    /// Sets [`compression`](Self::compression).
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Sets [`block_cache_bytes`](Self::block_cache_bytes).
    pub fn with_block_cache_bytes(mut self, bytes: u64) -> Self {
        self.block_cache_bytes = bytes;
        self
    }

    /// Sets [`write_buffer_bytes`](Self::write_buffer_bytes).
    pub fn with_write_buffer_bytes(mut self, bytes: u64) -> Self {
        self.write_buffer_bytes = bytes;
        self
    }

    /// Sets [`max_background_jobs`](Self::max_background_jobs).
    pub fn with_max_background_jobs(mut self, jobs: u32) -> Self {
        self.max_background_jobs = jobs;
        self
    }

    /// Sets [`max_open_files`](Self::max_open_files).
    pub fn with_max_open_files(mut self, files: i32) -> Self {
        self.max_open_files = files;
        self
    }

    /// Sets [`blob_files`](Self::blob_files).
    pub fn with_blob_files(mut self, yes: bool) -> Self {
        self.blob_files = yes;
        self
    }

    /// Sets [`blob_min_bytes`](Self::blob_min_bytes).
    pub fn with_blob_min_bytes(mut self, bytes: u64) -> Self {
        self.blob_min_bytes = bytes;
        self
    }

    /// Sets [`watch_buffer`](Self::watch_buffer), in events.
    pub fn with_watch_buffer(mut self, events: usize) -> Self {
        self.watch_buffer = events;
        self
    }

    /// Checks every setting; a bad one is a `Config` error naming it.
    pub fn validate(&self) -> Result<()> {
        if self.path.as_os_str().is_empty() {
            return Err(bad("path", "\"\"", "must name a directory"));
        }
        if self.write_buffer_bytes < MIN_WRITE_BUFFER_BYTES
            || usize::try_from(self.write_buffer_bytes).is_err()
        {
            return Err(bad(
                "write_buffer_bytes",
                self.write_buffer_bytes,
                "must be at least 65536 and fit in memory",
            ));
        }
        if usize::try_from(self.block_cache_bytes).is_err() {
            return Err(bad(
                "block_cache_bytes",
                self.block_cache_bytes,
                "does not fit in memory",
            ));
        }
        if !(1..=256).contains(&self.max_background_jobs) {
            return Err(bad(
                "max_background_jobs",
                self.max_background_jobs,
                "must be between 1 and 256",
            ));
        }
        if self.watch_buffer == 0 {
            return Err(bad("watch_buffer", 0, "must be at least 1 event"));
        }
        if self.max_open_files != -1 && self.max_open_files < 16 {
            return Err(bad(
                "max_open_files",
                self.max_open_files,
                "must be -1 (unlimited) or at least 16",
            ));
        }
        Ok(())
    }
}

fn bad(setting: &'static str, value: impl std::fmt::Display, why: &str) -> Error {
    Error::config(format!(
        "rocksdb setting `{setting}` = {value} is invalid: {why}"
    ))
    .with_operation("rocksdb::open")
    .with_context("setting", setting)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tq_core::ErrorKind;

    fn from_json(value: serde_json::Value) -> std::result::Result<RocksDbConfig, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn only_path_is_required_and_defaults_match_new() {
        let config = from_json(serde_json::json!({"path": "/tmp/x"})).unwrap();
        assert_eq!(config, RocksDbConfig::new("/tmp/x"));
        assert!(config.sync_writes && config.create_if_missing && config.blob_files);
        assert_eq!(config.compression, Compression::Lz4);
        assert!(
            from_json(serde_json::json!({}))
                .unwrap_err()
                .contains("path")
        );
    }

    #[test]
    fn builders_set_each_setting_and_serialized_settings_read_back() {
        let config = RocksDbConfig::new("/tmp/x")
            .with_create_if_missing(false)
            .with_sync_writes(false)
            .with_compression(Compression::Zstd)
            .with_block_cache_bytes(0)
            .with_write_buffer_bytes(1 << 20)
            .with_max_background_jobs(4)
            .with_max_open_files(100)
            .with_blob_files(false)
            .with_blob_min_bytes(4096);
        assert!(!config.create_if_missing && !config.sync_writes && !config.blob_files);
        assert_eq!(config.compression, Compression::Zstd);
        assert_eq!(config.block_cache_bytes, 0);
        assert_eq!(config.write_buffer_bytes, 1 << 20);
        assert_eq!(config.max_background_jobs, 4);
        assert_eq!(config.max_open_files, 100);
        assert_eq!(config.blob_min_bytes, 4096);
        for config in [RocksDbConfig::new("/tmp/y"), config] {
            let text = toml::to_string(&config).unwrap();
            assert_eq!(
                toml::from_str::<RocksDbConfig>(&text).unwrap(),
                config,
                "{text}"
            );
        }
        let text = toml::to_string(&RocksDbConfig::new("/p")).unwrap();
        assert!(text.contains("compression = \"lz4\""), "{text}");
    }

    #[test]
    fn unknown_settings_and_bad_compression_are_rejected_by_name() {
        let err = from_json(serde_json::json!({"path": "/x", "sync_write": true})).unwrap_err();
        assert!(err.contains("sync_write"), "{err}");
        let err =
            from_json(serde_json::json!({"path": "/x", "compression": "snappy"})).unwrap_err();
        assert!(err.contains("snappy"), "{err}");
        let config = from_json(serde_json::json!({"path": "/x", "compression": "zstd"})).unwrap();
        assert_eq!(config.compression, Compression::Zstd);
    }

    #[test]
    fn bad_values_are_config_errors_naming_the_setting() {
        type Spoil = fn(&mut RocksDbConfig);
        let cases: [(&str, Spoil); 5] = [
            ("path", |c| c.path = PathBuf::new()),
            ("write_buffer_bytes", |c| c.write_buffer_bytes = 1024),
            ("max_background_jobs", |c| c.max_background_jobs = 0),
            ("max_open_files", |c| c.max_open_files = 3),
            ("max_open_files", |c| c.max_open_files = -7),
        ];
        for (setting, spoil) in cases {
            let mut config = RocksDbConfig::new("/tmp/x");
            spoil(&mut config);
            let err = config.validate().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            assert_eq!(err.context_value("setting"), Some(setting));
            assert!(err.to_string().contains(setting), "{err}");
            assert!(!err.is_temporary());
        }
        assert!(RocksDbConfig::new("/tmp/x").validate().is_ok());
    }
}
