//! The kv_* API as a trait, so code (the conformance suite first) can be
//! written once for [`KvStore`] and for front ends that are not a store (the
//! facade's blocking API, driven from threads, in its tests).

use std::time::Duration;

use async_trait::async_trait;

use super::KvStore;
use crate::backend::Capabilities;
use crate::batch::Batch;
use crate::error::Result;
use crate::fields::FieldNames;
use crate::meta::{KvBatchMeta, Listing};
use crate::row::Row;
use crate::tag::Tag;
use crate::update::MergeFn;
use crate::watch::WatchStream;

/// The kv_* operations with the semantics of the contract, as one trait the
/// conformance suite drives.
///
/// The inherent methods of [`KvStore`] (which the facade's `TransferQueue`
/// derefs to) take keys more flexibly (`&[impl AsRef<str>]`); this trait
/// fixes them to `&[String]` so that it stays simple to implement and to
/// call generically.
///
/// Where an operation lives: its semantics once, in an inherent method of
/// [`KvStore`]; this trait's declaration and its one forwarding impl; the
/// blocking facade's one-line wrapper. Nothing else repeats a signature.
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
        select_fields: Option<&dyn FieldNames>,
    ) -> Result<Batch>;

    /// See [`KvStore::kv_batch_get_by_meta`].
    async fn kv_batch_get_by_meta(
        &self,
        meta: &KvBatchMeta,
        select_fields: Option<&dyn FieldNames>,
    ) -> Result<Batch>;

    /// See [`KvStore::kv_list`].
    async fn kv_list(&self, partition_id: Option<&str>) -> Result<Listing>;

    /// See [`KvStore::kv_clear`].
    async fn kv_clear(
        &self,
        keys: &[String],
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
    ) -> Result<usize>;

    /// See [`KvStore::kv_update`].
    async fn kv_update(
        &self,
        key: &str,
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
        merge_fn: MergeFn<'_>,
    ) -> Result<KvBatchMeta>;

    /// See [`KvStore::kv_batch_update`].
    async fn kv_batch_update(
        &self,
        keys: &[String],
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
        merge_fn: MergeFn<'_>,
    ) -> Result<KvBatchMeta>;

    /// See [`KvStore::kv_wait`].
    async fn kv_wait(
        &self,
        keys: &[String],
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
        timeout: Duration,
    ) -> Result<()>;

    /// See [`KvStore::kv_watch`].
    async fn kv_watch(&self, partition_id: &str) -> Result<WatchStream>;
}

/// The store forwards to its inherent methods. (Not a blanket impl over
/// `AsRef<KvStore>`: for a type that derefs to the store, like the facade's
/// `TransferQueue`, a blanket impl would put these trait methods, with their
/// narrower argument types, ahead of the store's own in method lookup
/// wherever the trait is in scope.)
#[async_trait]
impl KvApi for KvStore {
    fn capabilities(&self) -> Capabilities {
        KvStore::capabilities(self)
    }

    async fn kv_put(
        &self,
        key: &str,
        partition_id: &str,
        fields: Option<Row>,
        tag: Option<Tag>,
    ) -> Result<KvBatchMeta> {
        KvStore::kv_put(self, key, partition_id, fields, tag).await
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
        select_fields: Option<&dyn FieldNames>,
    ) -> Result<Batch> {
        self.as_ref()
            .kv_batch_get(keys, partition_id, select_fields)
            .await
    }

    async fn kv_batch_get_by_meta(
        &self,
        meta: &KvBatchMeta,
        select_fields: Option<&dyn FieldNames>,
    ) -> Result<Batch> {
        self.as_ref()
            .kv_batch_get_by_meta(meta, select_fields)
            .await
    }

    async fn kv_list(&self, partition_id: Option<&str>) -> Result<Listing> {
        KvStore::kv_list(self, partition_id).await
    }

    async fn kv_clear(
        &self,
        keys: &[String],
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
    ) -> Result<usize> {
        KvStore::kv_clear(self, keys, partition_id, fields).await
    }

    async fn kv_update(
        &self,
        key: &str,
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
        merge_fn: MergeFn<'_>,
    ) -> Result<KvBatchMeta> {
        KvStore::kv_update(self, key, partition_id, fields, merge_fn).await
    }

    async fn kv_batch_update(
        &self,
        keys: &[String],
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
        merge_fn: MergeFn<'_>,
    ) -> Result<KvBatchMeta> {
        KvStore::kv_batch_update(self, keys, partition_id, fields, merge_fn).await
    }

    async fn kv_wait(
        &self,
        keys: &[String],
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
        timeout: Duration,
    ) -> Result<()> {
        KvStore::kv_wait(self, keys, partition_id, fields, timeout).await
    }

    async fn kv_watch(&self, partition_id: &str) -> Result<WatchStream> {
        KvStore::kv_watch(self, partition_id).await
    }
}

impl AsRef<KvStore> for KvStore {
    fn as_ref(&self) -> &KvStore {
        self
    }
}
