//! Mapping RocksDB's errors onto [`tq_core::Error`].
//!
//! | RocksDB status | kind | temporary |
//! |---|---|---|
//! | `Corruption` | `Corrupted` | no |
//! | `Busy`, `TryAgain`, `TimedOut`, `Incomplete`, `Aborted`, `Expired` | `Unavailable` | yes |
//! | `ShutdownInProgress` | `Unavailable` | no |
//! | `IO error` (disk full, permissions, I/O failure) | `Unexpected` | no |
//! | anything else | `Unexpected` | no |
//!
//! Opening a store has its own mapping, see [`open_error`].

use std::path::Path;

use rocksdb::ErrorKind as RocksKind;
use tq_core::{Error, ErrorKind};

/// A RocksDB error met while serving a kv operation.
pub(crate) fn from_rocksdb(e: rocksdb::Error, what: &str) -> Error {
    let (kind, temporary) = match e.kind() {
        RocksKind::Corruption => (ErrorKind::Corrupted, false),
        RocksKind::Busy
        | RocksKind::TryAgain
        | RocksKind::TimedOut
        | RocksKind::Incomplete
        | RocksKind::Aborted
        | RocksKind::Expired => (ErrorKind::Unavailable, true),
        RocksKind::ShutdownInProgress => (ErrorKind::Unavailable, false),
        _ => (ErrorKind::Unexpected, false),
    };
    Error::new(kind, format!("rocksdb failed to {what}"))
        .set_temporary(temporary)
        .with_source(e)
}

/// A RocksDB error met while opening the store at `path`.
///
/// - the store's `LOCK` file is held (by another process, or by another
///   open backend of this process): `Unavailable`, temporary (it may be
///   closed soon), naming the path;
/// - a missing store with `create_if_missing = false`, or a path RocksDB
///   cannot use (not a directory, no permission): `Config` naming `path`;
/// - damaged files: `Corrupted`;
/// - anything else: as [`from_rocksdb`].
pub(crate) fn open_error(e: rocksdb::Error, path: &Path) -> Error {
    let text = e.as_ref().to_ascii_lowercase();
    let shown = path.display().to_string();
    // RocksDB's two messages for a held LOCK file (env/fs_posix.cc): the
    // in-process check and the failed fcntl lock of another process.
    let held = text.contains("lock hold by current process") || text.contains("while lock file");
    let err = if held {
        Error::new(
            ErrorKind::Unavailable,
            format!(
                "the rocksdb store at {shown} is already open (in this or another process); \
                 close it first"
            ),
        )
        .set_temporary(true)
    } else if text.contains("create_if_missing") || text.contains("does not exist") {
        Error::config(format!(
            "no rocksdb store at {shown} and the setting `create_if_missing` is false"
        ))
        .with_context("setting", "create_if_missing")
    } else {
        match e.kind() {
            RocksKind::InvalidArgument | RocksKind::IOError | RocksKind::NotSupported => {
                Error::config(format!("cannot open a rocksdb store at {shown}"))
                    .with_context("setting", "path")
            }
            RocksKind::Corruption => {
                Error::corrupted(format!("the rocksdb store at {shown} is damaged"))
            }
            _ => return from_rocksdb(e, "open the store").with_context("path", shown),
        }
    };
    err.with_context("path", shown).with_source(e)
}
