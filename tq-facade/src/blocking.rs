//! The blocking API: the same methods, names and arguments as the async
//! [`crate::TransferQueue`], for plain `fn main` programs.
//!
//! Each [`TransferQueue`] owns a small Tokio runtime (one worker thread, for
//! backends that keep connections alive) and blocks the calling thread on
//! it. Calling it from inside a Tokio runtime would block an executor
//! thread, so every method returns an [`ErrorKind::Unsupported`] error there
//! instead of blocking or panicking; use the async API in async code.
//!
//! That includes `tokio::task::spawn_blocking` threads: Tokio gives no public
//! way to tell them from executor threads (both are inside the runtime's
//! context). There, block on the async API through the runtime's handle, as
//! the error message says:
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 1)]
//! # async fn main() -> tq_facade::Result<()> {
//! let tq = tq_facade::TransferQueue::open_default().await?;
//! let listing = tokio::task::spawn_blocking(move || {
//!     tokio::runtime::Handle::current().block_on(tq.kv_list(None))
//! })
//! .await
//! .expect("the blocking task ran")?;
//! assert!(listing.is_empty());
//! # Ok(()) }
//! ```

mod watch;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tq_core::{
    Batch, Capabilities, CurrentRow, Error, ErrorKind, FieldNames, KvBatchMeta, Listing, Result,
    Row, RowChange, StorageBackend, Tag,
};

pub use self::watch::Watch;
use crate::config::Config;
use crate::registry::BackendRegistry;
use crate::{LoadOptions, Manifest, SaveOptions};

/// The blocking kv_* API over the configured backend.
///
/// ```
/// use tq_facade::{Row, Tensor, blocking::TransferQueue, tag};
///
/// fn main() -> tq_facade::Result<()> {
///     let tq = TransferQueue::open_default()?;
///     let row = Row::new().with("reward", Tensor::from_vec(vec![0.5f32], [1])?);
///     tq.kv_put("s0", "train", Some(row), Some(tag! {"status" => "scored"}))?;
///     assert_eq!(tq.kv_list(Some("train"))?["train"]["s0"]["status"], "scored");
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct TransferQueue {
    inner: crate::TransferQueue,
    /// Always `Some` until drop.
    runtime: Option<tokio::runtime::Runtime>,
}

fn new_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("tq-blocking")
        .enable_all()
        .build()
        .map_err(|e| Error::unexpected("cannot start the blocking API's runtime").with_source(e))
}

fn refuse_inside_runtime(op: &'static str) -> Result<()> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "the blocking API was called on a thread inside a Tokio runtime, where it could \
             block an executor thread (Tokio does not tell an async worker from a \
             spawn_blocking thread); in async code use the async tq_facade::TransferQueue with \
             .await; inside spawn_blocking use tokio::runtime::Handle::current().block_on(\
             tq.as_async().kv_put(..)) (as_async() lends the async API of this queue)",
        )
        .with_operation(op));
    }
    Ok(())
}

impl TransferQueue {
    /// Opens the backend `config` selects, from the built-in registry (a
    /// [`Config`], or a typed config of a built-in backend).
    pub fn open(config: impl Into<Config>) -> Result<Self> {
        Self::open_with_registry(&BackendRegistry::default(), config.into())
    }

    /// Opens what the environment says; see [`Config::from_env`].
    pub fn open_default() -> Result<Self> {
        Self::open(Config::from_env()?)
    }

    /// Opens the backend `config` selects from `registry`.
    pub fn open_with_registry(registry: &BackendRegistry, config: Config) -> Result<Self> {
        refuse_inside_runtime("open")?;
        let runtime = new_runtime()?;
        let inner = runtime.block_on(crate::TransferQueue::open_with_registry(registry, config))?;
        Ok(TransferQueue {
            inner,
            runtime: Some(runtime),
        })
    }

    /// Wraps a backend built in code.
    pub fn from_backend(backend: Arc<dyn StorageBackend>) -> Result<Self> {
        Ok(TransferQueue {
            inner: crate::TransferQueue::from_backend(backend),
            runtime: Some(new_runtime()?),
        })
    }

    /// The async queue this one drives (sharing its backend).
    pub fn as_async(&self) -> &crate::TransferQueue {
        &self.inner
    }

    /// What the backend promises.
    pub fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn block_on<T>(&self, op: &'static str, fut: impl Future<Output = Result<T>>) -> Result<T> {
        refuse_inside_runtime(op)?;
        match &self.runtime {
            Some(runtime) => runtime.block_on(fut),
            None => Err(Error::unexpected("the runtime is gone").with_operation(op)),
        }
    }

    /// Inserts or updates one row; see [`crate::KvStore::kv_put`].
    pub fn kv_put(
        &self,
        key: &str,
        partition_id: &str,
        fields: Option<Row>,
        tag: Option<Tag>,
    ) -> Result<KvBatchMeta> {
        self.block_on("kv_put", self.inner.kv_put(key, partition_id, fields, tag))
    }

    /// Inserts or updates many rows; see [`crate::KvStore::kv_batch_put`].
    pub fn kv_batch_put<K: AsRef<str> + Sync>(
        &self,
        keys: &[K],
        partition_id: &str,
        fields: Option<Batch>,
        tags: Option<Vec<Tag>>,
    ) -> Result<KvBatchMeta> {
        self.block_on(
            "kv_batch_put",
            self.inner.kv_batch_put(keys, partition_id, fields, tags),
        )
    }

    /// Reads rows as a batch; see [`crate::KvStore::kv_batch_get`].
    pub fn kv_batch_get<K: AsRef<str> + Sync>(
        &self,
        keys: &[K],
        partition_id: &str,
        select_fields: Option<&dyn FieldNames>,
    ) -> Result<Batch> {
        self.block_on(
            "kv_batch_get",
            self.inner.kv_batch_get(keys, partition_id, select_fields),
        )
    }

    /// Reads what a meta names; see [`crate::KvStore::kv_batch_get_by_meta`].
    pub fn kv_batch_get_by_meta(
        &self,
        meta: &KvBatchMeta,
        select_fields: Option<&dyn FieldNames>,
    ) -> Result<Batch> {
        self.block_on(
            "kv_batch_get_by_meta",
            self.inner.kv_batch_get_by_meta(meta, select_fields),
        )
    }

    /// Lists partitions, keys and tags; see [`crate::KvStore::kv_list`].
    pub fn kv_list(&self, partition_id: Option<&str>) -> Result<Listing> {
        self.block_on("kv_list", self.inner.kv_list(partition_id))
    }

    /// Removes rows or fields of rows; see [`crate::KvStore::kv_clear`].
    pub fn kv_clear<K: AsRef<str> + Sync>(
        &self,
        keys: &[K],
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
    ) -> Result<usize> {
        self.block_on("kv_clear", self.inner.kv_clear(keys, partition_id, fields))
    }

    /// Atomically reads, merges and writes one row; see [`crate::KvStore::kv_update`].
    pub fn kv_update<F>(
        &self,
        key: &str,
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
        merge_fn: F,
    ) -> Result<KvBatchMeta>
    where
        F: Fn(&CurrentRow) -> Option<RowChange> + Send + Sync,
    {
        self.block_on(
            "kv_update",
            self.inner.kv_update(key, partition_id, fields, merge_fn),
        )
    }

    /// Atomically reads, merges and writes rows; see [`crate::KvStore::kv_batch_update`].
    pub fn kv_batch_update<K, F>(
        &self,
        keys: &[K],
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
        merge_fn: F,
    ) -> Result<KvBatchMeta>
    where
        K: AsRef<str> + Sync,
        F: Fn(&CurrentRow) -> Option<RowChange> + Send + Sync,
    {
        self.block_on(
            "kv_batch_update",
            self.inner
                .kv_batch_update(keys, partition_id, fields, merge_fn),
        )
    }

    /// Blocks until every key holds every listed field, or `timeout`
    /// passes; see [`crate::KvStore::kv_wait`].
    pub fn kv_wait<K: AsRef<str> + Sync>(
        &self,
        keys: &[K],
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
        timeout: Duration,
    ) -> Result<()> {
        self.block_on(
            "kv_wait",
            self.inner.kv_wait(keys, partition_id, fields, timeout),
        )
    }

    /// The writes applied to `partition_id` from now on, as an iterator
    /// whose `next` waits at most `timeout`; see [`Watch`] and
    /// [`crate::KvStore::kv_watch`].
    pub fn kv_watch(&self, partition_id: &str, timeout: Duration) -> Result<Watch<'_>> {
        let events = self.block_on("kv_watch", self.inner.kv_watch(partition_id))?;
        Ok(Watch::new(self, events, timeout))
    }

    /// Saves partitions to the checkpoint at `url`; see
    /// [`crate::TransferQueue::save_checkpoint`].
    pub fn save_checkpoint(&self, url: &str, partitions: Option<&[&str]>) -> Result<Manifest> {
        self.block_on(
            "save_checkpoint",
            self.inner.save_checkpoint(url, partitions),
        )
    }

    /// See [`crate::TransferQueue::save_checkpoint_with`].
    pub fn save_checkpoint_with(&self, url: &str, options: &SaveOptions) -> Result<Manifest> {
        self.block_on(
            "save_checkpoint",
            self.inner.save_checkpoint_with(url, options),
        )
    }

    /// Restores the checkpoint at `url`; see
    /// [`crate::TransferQueue::load_checkpoint`].
    pub fn load_checkpoint(&self, url: &str) -> Result<Manifest> {
        self.block_on("load_checkpoint", self.inner.load_checkpoint(url))
    }

    /// See [`crate::TransferQueue::load_checkpoint_with`].
    pub fn load_checkpoint_with(&self, url: &str, options: &LoadOptions) -> Result<Manifest> {
        self.block_on(
            "load_checkpoint",
            self.inner.load_checkpoint_with(url, options),
        )
    }
}

impl Drop for TransferQueue {
    fn drop(&mut self) {
        // Dropping a runtime inside another runtime's context panics; hand
        // it to a background shutdown there instead.
        if let Some(runtime) = self.runtime.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            runtime.shutdown_background();
        }
    }
}
