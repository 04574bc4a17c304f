//! The async `TransferQueue`.

use std::ops::Deref;
use std::sync::Arc;

use tq_core::{Capabilities, KvStore, Result, StorageBackend};

use crate::checkpoint_settings::CheckpointSettings;
use crate::config::Config;
use crate::registry::BackendRegistry;

/// The kv_* API over the configured backend: the methods of [`KvStore`],
/// through `Deref`. Cheap to clone; clones share the backend.
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
    /// object_store settings for checkpoint URLs (names only in `Debug`).
    pub(crate) checkpoint: CheckpointSettings,
}

impl TransferQueue {
    /// Opens the backend `config` selects, from the built-in registry:
    /// a [`Config`] (from a file, say), or a typed config of a built-in
    /// backend (`MemoryConfig`, `RocksDbConfig`, `RedisConfig`).
    pub async fn open(config: impl Into<Config>) -> Result<Self> {
        Self::open_with_registry(&BackendRegistry::default(), config.into()).await
    }

    /// Opens what the environment says ([`Config::from_env`]): the file
    /// `TQ_CONFIG` names, `TQ_BACKEND`'s override, else the in-memory backend.
    pub async fn open_default() -> Result<Self> {
        Self::open(Config::from_env()?).await
    }

    /// Opens the backend `config` selects from `registry` (which may hold
    /// custom backends).
    pub async fn open_with_registry(registry: &BackendRegistry, config: Config) -> Result<Self> {
        let mut queue = Self::from_backend(registry.open(&config).await?)
            .with_update_policy(config.update_policy())
            .with_checkpoint_settings(config.checkpoint_settings().clone());
        if let Some(interval) = config.poll_interval() {
            queue = queue.with_poll_interval(interval);
        }
        Ok(queue)
    }

    /// Wraps a backend built in code.
    pub fn from_backend(backend: Arc<dyn StorageBackend>) -> Self {
        TransferQueue {
            store: KvStore::new(backend),
            checkpoint: CheckpointSettings::new(),
        }
    }

    /// This queue with another [`UpdatePolicy`](tq_core::UpdatePolicy) for
    /// `kv_update` (a config file's `[update]` table sets it at open).
    pub fn with_update_policy(mut self, policy: tq_core::UpdatePolicy) -> Self {
        self.store = self.store.with_update_policy(policy);
        self
    }

    /// This queue with another interval for `kv_wait`'s checks of a backend
    /// that does not push events (a config file's `[wait]` table sets it at
    /// open); see [`KvStore::with_poll_interval`].
    pub fn with_poll_interval(mut self, interval: std::time::Duration) -> Self {
        self.store = self.store.with_poll_interval(interval);
        self
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
}

/// The kv_* operations are [`KvStore`]'s, reached through this `Deref`
/// (each operation is written once, in tq-core): `tq.kv_put(..)`,
/// `tq.kv_batch_get(..)`, `tq.kv_clear(..)` and the rest.
impl Deref for TransferQueue {
    type Target = KvStore;

    fn deref(&self) -> &KvStore {
        &self.store
    }
}

/// Lends the store, which also gives `TransferQueue` the [`tq_core::KvApi`] trait.
impl AsRef<KvStore> for TransferQueue {
    fn as_ref(&self) -> &KvStore {
        &self.store
    }
}
