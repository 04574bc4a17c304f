//! S2: a save that fails part way leaves no new checkpoint, and an earlier
//! checkpoint at the same prefix stays complete and loadable (its objects
//! live under its own checkpoint id, which the failed save never writes).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{dump, fill, memory_location, memory_store};
use tq_backend_memory::MemoryBackend;
use tq_checkpoint::{LoadOptions, SaveOptions, load, read_manifest, save, save_with};
use tq_core::{
    Capabilities, Cells, ConditionalBackend, Error, ErrorKind, KvStore, Listing, PutIfOutcome,
    Result, Row, RowState, RowVersion, RowWrite, StorageBackend, Tensor, VersionedRow, async_trait,
};

/// Fails every read (`get`, `get_versioned`) after the first `allowed`
/// ones.
#[derive(Debug)]
struct FailingBackend {
    inner: MemoryBackend,
    allowed: AtomicUsize,
}

#[async_trait]
impl StorageBackend for FailingBackend {
    fn name(&self) -> &str {
        "failing-memory"
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn put(&self, partition: &str, rows: Vec<RowWrite>) -> Result<Vec<RowState>> {
        self.inner.put(partition, rows).await
    }

    async fn get(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<Option<Cells>>> {
        self.spend()?;
        self.inner.get(partition, keys, fields).await
    }

    fn as_conditional(&self) -> Option<&dyn ConditionalBackend> {
        Some(self)
    }

    async fn list(&self, partition: Option<&str>) -> Result<Listing> {
        self.inner.list(partition).await
    }

    async fn clear(&self, partition: &str, keys: &[String]) -> Result<usize> {
        self.inner.clear(partition, keys).await
    }
}

impl FailingBackend {
    fn spend(&self) -> Result<()> {
        let left = self.allowed.load(Ordering::SeqCst);
        if left == 0 {
            return Err(Error::new(ErrorKind::Unavailable, "injected failure"));
        }
        self.allowed.store(left - 1, Ordering::SeqCst);
        Ok(())
    }
}

#[async_trait]
impl ConditionalBackend for FailingBackend {
    async fn get_versioned(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<VersionedRow>> {
        self.spend()?;
        self.inner.get_versioned(partition, keys, fields).await
    }

    async fn put_if(
        &self,
        partition: &str,
        rows: Vec<(RowWrite, RowVersion)>,
    ) -> Result<Vec<PutIfOutcome>> {
        self.inner.put_if(partition, rows).await
    }
}

#[tokio::test]
async fn s2_failed_save_leaves_the_earlier_checkpoint_whole() {
    let backend = Arc::new(FailingBackend {
        inner: MemoryBackend::new(),
        allowed: AtomicUsize::new(usize::MAX),
    });
    let store = KvStore::new(backend.clone());
    fill(&store).await;
    let location = memory_location();
    let first = save(&store, &location, None).await.unwrap();
    let first_dump = dump(&store).await;

    // The store changes, and the next save dies after a few reads.
    let row = Row::new().with("late", Tensor::from_vec(vec![9u8], [1]).unwrap());
    store.kv_put("late", "eval", Some(row), None).await.unwrap();
    backend.allowed.store(3, Ordering::SeqCst);
    let options = SaveOptions::default()
        .with_object_bytes(100)
        .with_overwrite(true);
    let err = save_with(&store, &location, &options).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");

    assert_eq!(read_manifest(&location).await.unwrap(), first);
    let target = memory_store();
    load(&target, &location, &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(dump(&target).await, first_dump);
}
