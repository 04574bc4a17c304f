//! S2: the write phase of a load reads each object pinned to the ETag seen
//! while verifying it, so an object rewritten between the two reads is
//! refused before any of its rows is written. The rewrite is made
//! deterministic by a target backend that damages a later object of the
//! checkpoint during the load's first write.

mod common;
#[cfg(feature = "s3")]
#[path = "common/s3_server.rs"]
mod s3;

use std::sync::Arc;

use common::{fill, flip_a_bit, memory_location, memory_store};
use tokio::sync::Mutex;
use tq_backend_memory::MemoryBackend;
use tq_checkpoint::object_store::path::Path;
use tq_checkpoint::{LoadOptions, Location, SaveOptions, load, save_with};
use tq_core::{
    Capabilities, Cells, ErrorKind, KvStore, Listing, Result, RowState, RowWrite, StorageBackend,
    async_trait,
};

#[derive(Debug)]
struct DamagingBackend {
    inner: MemoryBackend,
    /// Damaged at the first put, then `None`.
    victim: Mutex<Option<(Location, Path)>>,
}

#[async_trait]
impl StorageBackend for DamagingBackend {
    fn name(&self) -> &str {
        "damaging-memory"
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn put(&self, partition: &str, rows: Vec<RowWrite>) -> Result<Vec<RowState>> {
        if let Some((location, path)) = self.victim.lock().await.take() {
            flip_a_bit(&location, &path).await;
        }
        self.inner.put(partition, rows).await
    }

    async fn get(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<Option<Cells>>> {
        self.inner.get(partition, keys, fields).await
    }

    async fn list(&self, partition: Option<&str>) -> Result<Listing> {
        self.inner.list(partition).await
    }

    async fn clear(&self, partition: &str, keys: &[String]) -> Result<usize> {
        self.inner.clear(partition, keys).await
    }
}

async fn rewritten_after_verification(location: Location) {
    let source = memory_store();
    fill(&source).await;
    let options = SaveOptions::default()
        .with_partitions(&["eval"])
        .with_object_bytes(100);
    let manifest = save_with(&source, &location, &options).await.unwrap();
    let eval = manifest.partition("eval").unwrap();
    assert!(eval.objects.len() >= 3, "{eval:?}");
    let last = eval.objects.last().unwrap();
    let victim = location.object(&last.path);

    let backend = Arc::new(DamagingBackend {
        inner: MemoryBackend::new(),
        victim: Mutex::new(Some((location.clone(), victim.clone()))),
    });
    let target = KvStore::new(backend);
    let err = load(
        &target,
        &location,
        &LoadOptions::default().with_rows_per_write(1),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
    assert_eq!(err.context_value("object"), Some(victim.as_ref()), "{err}");
    assert!(err.to_string().contains("changed since"), "{err}");
    // The objects before it were written, none of its rows.
    let written = target.kv_list(Some("eval")).await.unwrap();
    assert_eq!(written["eval"].len() as u64, eval.keys - last.rows);
}

#[tokio::test]
async fn s2_object_rewritten_after_verification_is_refused_before_its_rows() {
    rewritten_after_verification(memory_location()).await;
}

#[cfg(feature = "s3")]
#[tokio::test]
async fn s3_server_object_rewritten_after_verification_is_refused_before_its_rows() {
    let server = s3::S3Server::start();
    rewritten_after_verification(server.location("ckpt/rewritten")).await;
}
