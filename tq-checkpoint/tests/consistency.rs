//! A save racing writers: a partition that changed while it was read fails
//! the save with `Conflict` and leaves no manifest, unless a fuzzy copy is
//! accepted. The race is made deterministic by a backend that runs a write
//! of its own inside the first `get` of the save.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{fill, memory_location};
use tq_backend_memory::MemoryBackend;
use tq_checkpoint::object_store::ObjectStoreExt;
use tq_checkpoint::{Location, SaveOptions, load, save_with};
use tq_core::{
    Capabilities, Cells, ErrorKind, KvStore, Listing, Result, RowState, RowWrite, StorageBackend,
    async_trait, tag,
};

/// What the racing writer does, once, inside the save's first read.
#[derive(Debug, Clone, Copy)]
enum Race {
    ClearKey,
    RetagKey,
}

#[derive(Debug)]
struct RacingBackend {
    inner: MemoryBackend,
    race: Race,
    done: AtomicBool,
}

#[async_trait]
impl StorageBackend for RacingBackend {
    fn name(&self) -> &str {
        "racing-memory"
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
        if !self.done.swap(true, Ordering::SeqCst) {
            let victim = keys[keys.len() - 1].clone();
            match self.race {
                Race::ClearKey => {
                    self.inner.clear(partition, &[victim]).await?;
                }
                Race::RetagKey => {
                    let write = RowWrite::new(victim).with_tag(tag! {"racer" => true});
                    self.inner.put(partition, vec![write]).await?;
                }
            }
        }
        self.inner.get(partition, keys, fields).await
    }

    async fn list(&self, partition: Option<&str>) -> Result<Listing> {
        self.inner.list(partition).await
    }

    async fn clear(&self, partition: &str, keys: &[String]) -> Result<usize> {
        self.inner.clear(partition, keys).await
    }
}

async fn racing_store(race: Race) -> KvStore {
    // Fill through a plain store first, then race from the first get on.
    let backend = Arc::new(RacingBackend {
        inner: MemoryBackend::new(),
        race,
        done: AtomicBool::new(true),
    });
    let store = KvStore::new(backend.clone());
    fill(&store).await;
    backend.done.store(false, Ordering::SeqCst);
    store
}

async fn save_eval(store: &KvStore, location: &Location, fuzzy: bool) -> Result<()> {
    let options = SaveOptions::default()
        .with_partitions(&["eval"])
        .with_allow_fuzzy(fuzzy);
    save_with(store, location, &options).await.map(|_| ())
}

async fn refused_without_manifest(race: Race) {
    let store = racing_store(race).await;
    let location = memory_location();
    let err = save_eval(&store, &location, false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(err.context_value("partition"), Some("eval"), "{err}");
    assert!(err.context_value("key").is_some(), "{err}");
    assert!(location.store().head(&location.manifest()).await.is_err());
}

#[tokio::test]
async fn consistency_row_cleared_during_save_is_a_conflict() {
    refused_without_manifest(Race::ClearKey).await;
}

#[tokio::test]
async fn consistency_row_retagged_during_save_is_a_conflict() {
    refused_without_manifest(Race::RetagKey).await;
}

#[tokio::test]
async fn consistency_fuzzy_copy_skips_a_row_cleared_during_save() {
    let store = racing_store(Race::ClearKey).await;
    let location = memory_location();
    save_eval(&store, &location, true).await.unwrap();

    let target = common::memory_store();
    load(&target, &location, &Default::default()).await.unwrap();
    // The copy holds what the source holds now: the cleared row is gone.
    assert_eq!(
        common::dump(&target).await,
        common::dump(&store)
            .await
            .into_iter()
            .filter(|(p, _)| p == "eval")
            .collect::<Vec<_>>()
    );
}
