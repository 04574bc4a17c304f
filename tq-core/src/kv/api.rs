//! The kv_* API as a trait, so code (the conformance suite first) can be
//! written once for [`KvStore`], the facade's `TransferQueue`, or a wrapper.

use async_trait::async_trait;

use super::KvStore;
use crate::backend::Capabilities;
use crate::batch::Batch;
use crate::error::Result;
use crate::meta::{KvBatchMeta, Listing};
use crate::row::Row;
use crate::tag::Tag;

/// The six kv_* operations with the semantics of contract section 3.
///
/// The inherent methods of [`KvStore`] and of the facade take keys more
/// flexibly (`&[impl AsRef<str>]`); this trait fixes them to `&[String]` so
/// that it stays simple to implement and to call generically.
#[async_trait]
pub trait KvApi: Send + Sync {
    /// What the store underneath promises.
    fn capabilities(&self) -> Capabilities;

    /// See [`KvStore::kv_put`].
    async fn kv_put(
        &self,
        key: &str,
        partition_id: &str,
        fields: Option<Row>,
        tag: Option<Tag>,
    ) -> Result<KvBatchMeta>;

    /// See [`KvStore::kv_batch_put`].
    async fn kv_batch_put(
        &self,
        keys: &[String],
        partition_id: &str,
        fields: Option<Batch>,
        tags: Option<Vec<Tag>>,
    ) -> Result<KvBatchMeta>;

    /// See [`KvStore::kv_batch_get`].
    async fn kv_batch_get(
        &self,
        keys: &[String],
        partition_id: &str,
        select_fields: Option<&[&str]>,
    ) -> Result<Batch>;

    /// See [`KvStore::kv_batch_get_by_meta`].
    async fn kv_batch_get_by_meta(
        &self,
        meta: &KvBatchMeta,
        select_fields: Option<&[&str]>,
    ) -> Result<Batch>;

    /// See [`KvStore::kv_list`].
    async fn kv_list(&self, partition_id: Option<&str>) -> Result<Listing>;

    /// See [`KvStore::kv_clear`].
    async fn kv_clear(&self, keys: &[String], partition_id: &str) -> Result<usize>;
}

/// Every type that can lend a [`KvStore`] (the store itself, the facade's
/// `TransferQueue`, your own wrapper) gets the trait by forwarding to it.
#[async_trait]
impl<T: AsRef<KvStore> + Send + Sync> KvApi for T {
    fn capabilities(&self) -> Capabilities {
        self.as_ref().capabilities()
    }

    async fn kv_put(
        &self,
        key: &str,
        partition_id: &str,
        fields: Option<Row>,
        tag: Option<Tag>,
    ) -> Result<KvBatchMeta> {
        self.as_ref().kv_put(key, partition_id, fields, tag).await
    }

    async fn kv_batch_put(
        &self,
        keys: &[String],
        partition_id: &str,
        fields: Option<Batch>,
        tags: Option<Vec<Tag>>,
    ) -> Result<KvBatchMeta> {
        self.as_ref()
            .kv_batch_put(keys, partition_id, fields, tags)
            .await
    }

    async fn kv_batch_get(
        &self,
        keys: &[String],
        partition_id: &str,
        select_fields: Option<&[&str]>,
    ) -> Result<Batch> {
        self.as_ref()
            .kv_batch_get(keys, partition_id, select_fields)
            .await
    }

    async fn kv_batch_get_by_meta(
        &self,
        meta: &KvBatchMeta,
        select_fields: Option<&[&str]>,
    ) -> Result<Batch> {
        self.as_ref()
            .kv_batch_get_by_meta(meta, select_fields)
            .await
    }

    async fn kv_list(&self, partition_id: Option<&str>) -> Result<Listing> {
        self.as_ref().kv_list(partition_id).await
    }

    async fn kv_clear(&self, keys: &[String], partition_id: &str) -> Result<usize> {
        self.as_ref().kv_clear(keys, partition_id).await
    }
}

impl AsRef<KvStore> for KvStore {
    fn as_ref(&self) -> &KvStore {
        self
    }
}
