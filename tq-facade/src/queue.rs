//! The async `TransferQueue`.

use std::sync::Arc;

use tq_core::{
    Batch, Capabilities, KvBatchMeta, KvStore, Listing, Result, Row, StorageBackend, Tag,
};

use crate::config::Config;
use crate::registry::BackendRegistry;

/// The kv_* API over the configured backend. Cheap to clone; clones share
/// the backend.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> tq_facade::Result<()> {
/// use tq_facade::{Batch, Tensor, TransferQueue, tag};
///
/// let tq = TransferQueue::open_default().await?; // TQ_CONFIG, or in-memory
/// let batch = Batch::new(2)
///     .with_dense("input_ids", Tensor::from_vec(vec![1i64, 2, 3, 4], [2, 2])?)?;
/// let meta = tq
///     .kv_batch_put(&["s0", "s1"], "train", Some(batch), Some(vec![tag! {"status" => "new"}; 2]))
///     .await?;
/// let got = tq.kv_batch_get_by_meta(&meta, None).await?;
/// assert_eq!(got.tensor("input_ids").unwrap().as_dense().unwrap().shape(), &[2, 2]);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct TransferQueue {
    store: KvStore,
}

impl TransferQueue {
    /// Opens the backend `config` selects, from the built-in registry.
    pub async fn open(config: Config) -> Result<Self> {
        Self::open_with_registry(&BackendRegistry::default(), config).await
    }

    /// Opens what the environment says ([`Config::from_env`]): the file
    /// `TQ_CONFIG` names, `TQ_BACKEND`'s override, else the in-memory backend.
    pub async fn open_default() -> Result<Self> {
        Self::open(Config::from_env()?).await
    }

    /// Opens the backend `config` selects from `registry` (which may hold
    /// custom backends).
    pub async fn open_with_registry(registry: &BackendRegistry, config: Config) -> Result<Self> {
        Ok(Self::from_backend(registry.open(&config).await?))
    }

    /// Wraps a backend built in code.
    pub fn from_backend(backend: Arc<dyn StorageBackend>) -> Self {
        TransferQueue {
            store: KvStore::new(backend),
        }
    }

    /// The KV engine underneath.
    pub fn store(&self) -> &KvStore {
        &self.store
    }

    /// The backend underneath.
    pub fn backend(&self) -> &Arc<dyn StorageBackend> {
        self.store.backend()
    }

    /// What the backend promises.
    pub fn capabilities(&self) -> Capabilities {
        self.store.capabilities()
    }

    /// Inserts or updates one row; see [`KvStore::kv_put`].
    pub async fn kv_put(
        &self,
        key: &str,
        partition_id: &str,
        fields: Option<Row>,
        tag: Option<Tag>,
    ) -> Result<KvBatchMeta> {
        self.store.kv_put(key, partition_id, fields, tag).await
    }

    /// Inserts or updates many rows in one call; see [`KvStore::kv_batch_put`].
    pub async fn kv_batch_put<K: AsRef<str> + Sync>(
        &self,
        keys: &[K],
        partition_id: &str,
        fields: Option<Batch>,
        tags: Option<Vec<Tag>>,
    ) -> Result<KvBatchMeta> {
        self.store
            .kv_batch_put(keys, partition_id, fields, tags)
            .await
    }

    /// Reads rows as a batch; see [`KvStore::kv_batch_get`].
    pub async fn kv_batch_get<K: AsRef<str> + Sync>(
        &self,
        keys: &[K],
        partition_id: &str,
        select_fields: Option<&[&str]>,
    ) -> Result<Batch> {
        self.store
            .kv_batch_get(keys, partition_id, select_fields)
            .await
    }

    /// Reads the rows and fields a meta names; see [`KvStore::kv_batch_get_by_meta`].
    pub async fn kv_batch_get_by_meta(
        &self,
        meta: &KvBatchMeta,
        select_fields: Option<&[&str]>,
    ) -> Result<Batch> {
        self.store.kv_batch_get_by_meta(meta, select_fields).await
    }

    /// Lists partitions, keys and tags; see [`KvStore::kv_list`].
    pub async fn kv_list(&self, partition_id: Option<&str>) -> Result<Listing> {
        self.store.kv_list(partition_id).await
    }

    /// Removes rows; see [`KvStore::kv_clear`].
    pub async fn kv_clear<K: AsRef<str> + Sync>(
        &self,
        keys: &[K],
        partition_id: &str,
    ) -> Result<usize> {
        self.store.kv_clear(keys, partition_id).await
    }
}

/// Lends the store, which also gives `TransferQueue` the [`tq_core::KvApi`] trait.
impl AsRef<KvStore> for TransferQueue {
    fn as_ref(&self) -> &KvStore {
        &self.store
    }
}
