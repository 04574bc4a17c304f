//! The conformance suite through the facade's own stack: the memory backend
//! opened from a TOML config by the registry, via the async API and via the
//! blocking API.

use std::sync::Arc;

use tq_facade::core::conformance::Fixture;
use tq_facade::{
    Batch, Capabilities, Config, KvApi, KvBatchMeta, Listing, Result, Row, Tag, TransferQueue,
    async_trait, blocking,
};

mod via_async {
    use super::*;

    tq_facade::core::conformance_tests!(|| async {
        let config =
            Config::from_toml_str("backend = \"memory\"\n[memory]\ncapacity_bytes = 1073741824\n")?;
        Ok(Fixture::new(TransferQueue::open(config).await?))
    });
}

/// The blocking API behind the async trait the suite drives: each call runs
/// on a plain thread (outside any runtime), as a blocking user's would.
struct Blocking(Arc<blocking::TransferQueue>);

fn on_thread<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| s.spawn(f).join())
        .unwrap_or_else(|_| Err(tq_facade::Error::unexpected("blocking call panicked")))
}

#[async_trait]
impl KvApi for Blocking {
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    async fn kv_put(
        &self,
        key: &str,
        partition_id: &str,
        fields: Option<Row>,
        tag: Option<Tag>,
    ) -> Result<KvBatchMeta> {
        on_thread(|| self.0.kv_put(key, partition_id, fields, tag))
    }
    async fn kv_batch_put(
        &self,
        keys: &[String],
        partition_id: &str,
        fields: Option<Batch>,
        tags: Option<Vec<Tag>>,
    ) -> Result<KvBatchMeta> {
        on_thread(|| self.0.kv_batch_put(keys, partition_id, fields, tags))
    }
    async fn kv_batch_get(
        &self,
        keys: &[String],
        partition_id: &str,
        select_fields: Option<&[&str]>,
    ) -> Result<Batch> {
        on_thread(|| self.0.kv_batch_get(keys, partition_id, select_fields))
    }
    async fn kv_batch_get_by_meta(
        &self,
        meta: &KvBatchMeta,
        select_fields: Option<&[&str]>,
    ) -> Result<Batch> {
        on_thread(|| self.0.kv_batch_get_by_meta(meta, select_fields))
    }
    async fn kv_list(&self, partition_id: Option<&str>) -> Result<Listing> {
        on_thread(|| self.0.kv_list(partition_id))
    }
    async fn kv_clear(&self, keys: &[String], partition_id: &str) -> Result<usize> {
        on_thread(|| self.0.kv_clear(keys, partition_id))
    }
}

mod via_blocking {
    use super::*;

    tq_facade::core::conformance_tests!(|| async {
        let tq = on_thread(|| blocking::TransferQueue::open(Config::default()))?;
        Ok(Fixture::new(Blocking(Arc::new(tq))))
    });
}
