//! [`RocksDbBackend`]: the [`StorageBackend`] over [`crate::store`], with
//! every RocksDB call on Tokio's blocking pool.

use std::fmt;
use std::sync::Arc;

use tq_core::{
    Capabilities, Cells, ConditionalBackend, Error, Listing, Notifications, PutIfOutcome, Result,
    RowState, RowVersion, RowWrite, StorageBackend, VersionedRow, WatchBackend, WatchStream,
    async_trait,
};

use crate::config::RocksDbConfig;
use crate::nesting::RowWrites;
use crate::store::{MAX_VALUE_BYTES, Store};

/// A persistent, crash-safe store in one RocksDB directory.
///
/// Open it with [`RocksDbBackend::open`]; wrap it in [`tq_core::KvStore`]
/// (or select `backend = "rocksdb"` in the facade's config) for the kv_* API.
/// The store closes when the backend (and every operation still running on
/// it) is dropped.
pub struct RocksDbBackend {
    store: Arc<Store>,
}

impl fmt::Debug for RocksDbBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksDbBackend")
            .field("path", &self.store.config().path)
            .finish_non_exhaustive()
    }
}

/// Runs `work` on Tokio's blocking pool (Behavior B9).
async fn blocking<T, F>(op: &'static str, work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let handle = tokio::runtime::Handle::try_current().map_err(|_| {
        Error::unsupported("the rocksdb backend must be called from inside a Tokio runtime")
            .with_operation(op)
    })?;
    handle.spawn_blocking(work).await.map_err(|e| {
        Error::unexpected(format!("a rocksdb worker task did not finish: {e}")).with_operation(op)
    })?
}

impl RocksDbBackend {
    /// Opens the store `config` names, creating it if it is missing and
    /// `create_if_missing` is set.
    ///
    /// # Errors
    ///
    /// - `Config` naming the setting: a bad setting, a missing store with
    ///   `create_if_missing = false`, a path that cannot hold a store;
    /// - `Unavailable` (temporary) naming the path: the store is open
    ///   already, in another process or in this one;
    /// - `Corrupted`: the store's files are damaged or of a newer layout;
    /// - `Unsupported`: called outside a Tokio runtime.
    pub async fn open(config: RocksDbConfig) -> Result<RocksDbBackend> {
        config.validate()?;
        let store = blocking("rocksdb::open", move || Store::open(config)).await?;
        Ok(RocksDbBackend {
            store: Arc::new(store),
        })
    }

    /// The settings the store was opened with.
    pub fn config(&self) -> &RocksDbConfig {
        self.store.config()
    }
}

#[cfg(feature = "testing")]
impl RocksDbBackend {
    /// Test support (feature `testing`): overwrites stored bytes of row
    /// `key` of `partition` behind the kv API's back, on an open store, for
    /// the conformance suite's corruption hook
    /// ([`tq_core::conformance::Fixture::with_corruptor`]):
    ///
    /// - [`Corruption::Cells`](tq_core::conformance::Corruption::Cells):
    ///   every stored cell value of the row becomes bytes that fail tq-core's
    ///   codec (a codec version this build does not read);
    /// - [`Corruption::Tag`](tq_core::conformance::Corruption::Tag): the tag
    ///   in the row record becomes bytes that do not parse as JSON; the
    ///   record's head (sequence number, field list), which a clear needs,
    ///   is kept.
    ///
    /// Runs under the row's lock, like a put.
    ///
    /// # Errors
    ///
    /// `NotFound` if the row does not exist; `Corrupted` if its record's
    /// head does not decode; `Unsupported` for a kind of corruption this
    /// build does not know; each naming the partition and the key.
    pub async fn corrupt_row_for_tests(
        &self,
        partition: &str,
        key: &str,
        what: tq_core::conformance::Corruption,
    ) -> Result<()> {
        use tq_core::conformance::Corruption;
        let tag = match what {
            Corruption::Cells => false,
            Corruption::Tag => true,
            other => {
                return Err(Error::unsupported(format!(
                    "the rocksdb backend cannot apply {other:?}"
                ))
                .with_context("partition", partition)
                .with_context("key", key));
            }
        };
        let (store, partition, key) = (self.store.clone(), partition.to_owned(), key.to_owned());
        blocking("rocksdb::corrupt_row_for_tests", move || {
            store.corrupt_row(&partition, &key, tag)
        })
        .await
    }
}

#[async_trait]
impl StorageBackend for RocksDbBackend {
    fn name(&self) -> &str {
        "rocksdb"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_persistent(true)
            .with_atomic_batch(true)
            .with_max_value_bytes(Some(MAX_VALUE_BYTES))
            .with_conditional_write(true)
            .with_notifications(Notifications::InProcess)
    }

    fn as_conditional(&self) -> Option<&dyn ConditionalBackend> {
        Some(self)
    }

    /// One process opens a RocksDB store at a time, so an in-process
    /// broadcast reaches every watcher there can be.
    fn as_watch(&self) -> Option<&dyn WatchBackend> {
        Some(self)
    }

    async fn put(&self, partition: &str, rows: Vec<RowWrite>) -> Result<Vec<RowState>> {
        // From here on, however deep the caller's JSON, no path drops it
        // recursively (not even the error path outside a runtime).
        let rows = RowWrites::new(rows);
        let (store, partition) = (self.store.clone(), partition.to_owned());
        blocking("rocksdb::put", move || store.put(&partition, rows)).await
    }

    async fn get(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<Option<Cells>>> {
        let (store, partition) = (self.store.clone(), partition.to_owned());
        let (keys, fields) = (keys.to_vec(), fields.map(<[String]>::to_vec));
        blocking("rocksdb::get", move || {
            store.get(&partition, &keys, fields.as_deref())
        })
        .await
    }

    async fn list(&self, partition: Option<&str>) -> Result<Listing> {
        let (store, partition) = (self.store.clone(), partition.map(str::to_owned));
        blocking("rocksdb::list", move || store.list(partition.as_deref())).await
    }

    async fn clear(&self, partition: &str, keys: &[String]) -> Result<usize> {
        let (store, partition, keys) = (self.store.clone(), partition.to_owned(), keys.to_vec());
        blocking("rocksdb::clear", move || store.clear(&partition, &keys)).await
    }
}

/// Versions are the records' sequence numbers and write counts
/// ([`crate::record`]); a conditional write compares them under the rows'
/// locks, which every write of a row takes.
#[async_trait]
impl ConditionalBackend for RocksDbBackend {
    async fn get_versioned(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<VersionedRow>> {
        let (store, partition) = (self.store.clone(), partition.to_owned());
        let (keys, fields) = (keys.to_vec(), fields.map(<[String]>::to_vec));
        blocking("rocksdb::get_versioned", move || {
            store.get_versioned(&partition, &keys, fields.as_deref())
        })
        .await
    }

    async fn put_if(
        &self,
        partition: &str,
        rows: Vec<(RowWrite, RowVersion)>,
    ) -> Result<Vec<PutIfOutcome>> {
        let (rows, expected): (Vec<RowWrite>, Vec<RowVersion>) = rows.into_iter().unzip();
        let rows = RowWrites::new(rows);
        let (store, partition) = (self.store.clone(), partition.to_owned());
        let states = blocking("rocksdb::put_if", move || {
            store.put_if(&partition, rows, &expected)
        })
        .await?;
        Ok(states
            .into_iter()
            .map(|s| s.map_or(PutIfOutcome::Conflict, PutIfOutcome::Written))
            .collect())
    }
}

/// Writes publish under the rows' locks, after the write batch is applied
/// (see `Store::watch`).
#[async_trait]
impl WatchBackend for RocksDbBackend {
    async fn watch(&self, partition: &str) -> Result<WatchStream> {
        Ok(self.store.watch(partition))
    }
}
