//! A save racing writers: a partition that changed while it was read is
//! copied again, and if it keeps changing the save fails with `Conflict`
//! and leaves no manifest, unless a fuzzy copy is accepted (then the
//! manifest says `consistent: false`). The race is made deterministic by a
//! backend that writes a row right after the save's first data read of
//! each copy of the partition has read it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{dump, fill, memory_location, memory_store};
use tq_backend_memory::MemoryBackend;
use tq_checkpoint::object_store::ObjectStoreExt;
use tq_checkpoint::{LoadOptions, Location, Manifest, SaveOptions, load, save_with};
use tq_core::{
    Capabilities, Cells, ConditionalBackend, ErrorKind, KvStore, Listing, PutIfOutcome, Result,
    RowState, RowVersion, RowWrite, StorageBackend, Tensor, VersionedRow, async_trait, tag,
};

/// What the racing writer does to the row it has just seen read.
#[derive(Debug, Clone, Copy)]
enum Race {
    ClearKey,
    RetagKey,
    /// A put of the same field with other values: neither the keys nor the
    /// tags change, only the cells, in place.
    ReplaceCells,
}

#[derive(Debug)]
struct RacingBackend {
    inner: MemoryBackend,
    race: Race,
    /// Races left; one per copy of the partition at most.
    races: AtomicUsize,
    /// Whether `as_conditional` answers (a third-party backend may not).
    versioned: bool,
}

impl RacingBackend {
    async fn race_after_read(&self, partition: &str, keys: &[String]) -> Result<()> {
        let listing = self.inner.list(Some(partition)).await?;
        let first = listing.get(partition).and_then(|p| p.keys().next());
        // Only the read starting a copy of the partition races: a save's
        // first read of a partition asks one row, at its first key.
        if keys.len() != 1 || first != keys.first() || self.races.load(Ordering::SeqCst) == 0 {
            return Ok(());
        }
        self.races.fetch_sub(1, Ordering::SeqCst);
        let victim = keys[0].clone();
        match self.race {
            Race::ClearKey => {
                self.inner.clear(partition, &[victim]).await?;
            }
            Race::RetagKey => {
                let write = RowWrite::new(victim).with_tag(tag! {"racer" => true});
                self.inner.put(partition, vec![write]).await?;
            }
            Race::ReplaceCells => {
                let n = self.races.load(Ordering::SeqCst) as f64;
                let reward = Tensor::from_vec(vec![-1.0 - n], [1])?;
                let write = RowWrite::new(victim).with_cell("reward", reward);
                self.inner.put(partition, vec![write]).await?;
            }
        }
        Ok(())
    }
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
        let rows = self.inner.get(partition, keys, fields).await?;
        self.race_after_read(partition, keys).await?;
        Ok(rows)
    }

    async fn list(&self, partition: Option<&str>) -> Result<Listing> {
        self.inner.list(partition).await
    }

    async fn clear(&self, partition: &str, keys: &[String]) -> Result<usize> {
        self.inner.clear(partition, keys).await
    }

    fn as_conditional(&self) -> Option<&dyn ConditionalBackend> {
        self.versioned.then_some(self as &dyn ConditionalBackend)
    }
}

#[async_trait]
impl ConditionalBackend for RacingBackend {
    async fn get_versioned(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<VersionedRow>> {
        let rows = self.inner.get_versioned(partition, keys, fields).await?;
        // Version-only reads are the save's final check: no race there.
        if fields != Some(&[]) {
            self.race_after_read(partition, keys).await?;
        }
        Ok(rows)
    }

    async fn put_if(
        &self,
        partition: &str,
        rows: Vec<(RowWrite, RowVersion)>,
    ) -> Result<Vec<PutIfOutcome>> {
        self.inner.put_if(partition, rows).await
    }
}

async fn racing_store(race: Race, races: usize, versioned: bool) -> KvStore {
    // Fill through a plain store first, then race from the save on.
    let backend = Arc::new(RacingBackend {
        inner: MemoryBackend::new(),
        race,
        races: AtomicUsize::new(0),
        versioned,
    });
    let store = KvStore::new(backend.clone());
    fill(&store).await;
    backend.races.store(races, Ordering::SeqCst);
    store
}

async fn save_eval(store: &KvStore, location: &Location, fuzzy: bool) -> Result<Manifest> {
    let options = SaveOptions::default()
        .with_partitions(&["eval"])
        .with_allow_fuzzy(fuzzy);
    save_with(store, location, &options).await
}

/// Loads `location` into a fresh store and returns its dump.
async fn loaded(location: &Location) -> Vec<(String, Vec<common::DumpRow>)> {
    let target = memory_store();
    load(&target, location, &LoadOptions::default())
        .await
        .unwrap();
    dump(&target).await
}

async fn eval_now(store: &KvStore) -> Vec<(String, Vec<common::DumpRow>)> {
    dump(store)
        .await
        .into_iter()
        .filter(|(p, _)| p == "eval")
        .collect()
}

/// Writers racing every copy: `Conflict` naming partition and key, no
/// manifest.
async fn refused_without_manifest(race: Race) {
    let store = racing_store(race, usize::MAX, true).await;
    let location = memory_location();
    let err = save_eval(&store, &location, false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(err.context_value("partition"), Some("eval"), "{err}");
    assert!(err.context_value("key").is_some(), "{err}");
    assert_eq!(err.context_value("attempts"), Some("3"), "{err}");
    assert!(location.store().head(&location.manifest()).await.is_err());
}

#[tokio::test]
async fn consistency_row_cleared_during_every_copy_is_a_conflict() {
    refused_without_manifest(Race::ClearKey).await;
}

#[tokio::test]
async fn consistency_row_retagged_during_every_copy_is_a_conflict() {
    refused_without_manifest(Race::RetagKey).await;
}

#[tokio::test]
async fn consistency_cells_replaced_in_place_during_every_copy_is_a_conflict() {
    refused_without_manifest(Race::ReplaceCells).await;
}

/// One racing write: the first copy is thrown away, the second is the
/// partition as it is now, and the manifest says so.
async fn retried_to_a_consistent_copy(race: Race) {
    let store = racing_store(race, 1, true).await;
    let location = memory_location();
    let manifest = save_eval(&store, &location, false).await.unwrap();
    assert!(manifest.partition("eval").unwrap().consistent);
    assert_eq!(loaded(&location).await, eval_now(&store).await);
}

#[tokio::test]
async fn consistency_cells_replaced_in_place_once_are_retried_to_a_consistent_copy() {
    retried_to_a_consistent_copy(Race::ReplaceCells).await;
}

#[tokio::test]
async fn consistency_row_cleared_once_is_retried_to_a_consistent_copy() {
    retried_to_a_consistent_copy(Race::ClearKey).await;
}

#[tokio::test]
async fn consistency_fuzzy_copy_succeeds_and_says_inconsistent() {
    for race in [Race::ReplaceCells, Race::ClearKey] {
        let store = racing_store(race, usize::MAX, true).await;
        let location = memory_location();
        let manifest = save_eval(&store, &location, true).await.unwrap();
        let eval = manifest.partition("eval").unwrap();
        assert!(!eval.consistent, "{race:?}: {manifest:?}");
        // What was read: five rows, the raced one as it was before.
        assert_eq!(eval.keys, 5, "{race:?}");
        let bytes = location
            .store()
            .get(&location.manifest())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(text.contains("\"consistent\": false"), "{text}");
    }
}

#[tokio::test]
async fn consistency_backend_without_versions_is_refused_unless_fuzzy() {
    let store = racing_store(Race::ReplaceCells, 0, false).await;
    let location = memory_location();
    let err = save_eval(&store, &location, false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert_eq!(err.context_value("partition"), Some("eval"), "{err}");
    assert!(location.store().head(&location.manifest()).await.is_err());

    let manifest = save_eval(&store, &location, true).await.unwrap();
    assert!(!manifest.partition("eval").unwrap().consistent);
    assert_eq!(loaded(&location).await, eval_now(&store).await);
}

#[tokio::test]
async fn consistency_quiet_save_is_consistent() {
    let store = racing_store(Race::ReplaceCells, 0, true).await;
    let location = memory_location();
    let manifest = save_eval(&store, &location, false).await.unwrap();
    assert!(manifest.partitions.iter().all(|p| p.consistent));
    assert_eq!(loaded(&location).await, eval_now(&store).await);
}

/// A real race, no hook: a writer task rewrites every row of the partition
/// in one atomic batch per generation (the memory backend's batches are
/// atomic), tagging and filling each row with the generation, while saves
/// run. Every save that succeeds as consistent must hold one generation in
/// every row, cells and tags alike; a save that keeps losing the race is a
/// `Conflict` and writes no manifest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistency_save_racing_a_real_writer_is_one_generation() {
    const ROWS: usize = 64;
    let store = memory_store();
    assert!(store.capabilities().atomic_batch);
    let keys: Vec<String> = (0..ROWS).map(|i| format!("k{i:02}")).collect();
    let generation = |g: i64| {
        let batch = tq_core::Batch::new(ROWS)
            .with_dense("gen", Tensor::from_vec(vec![g; ROWS], [ROWS, 1]).unwrap())
            .unwrap();
        let tags = vec![tag! {"gen" => g}; ROWS];
        (batch, tags)
    };
    let (batch, tags) = generation(0);
    store
        .kv_batch_put(&keys, "train", Some(batch), Some(tags))
        .await
        .unwrap();

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, keys, stop) = (store.clone(), keys.clone(), stop.clone());
        tokio::spawn(async move {
            let mut g = 0;
            while !stop.load(Ordering::SeqCst) {
                g += 1;
                let (batch, tags) = generation(g);
                store
                    .kv_batch_put(&keys, "train", Some(batch), Some(tags))
                    .await
                    .unwrap();
                tokio::time::sleep(std::time::Duration::from_micros(200)).await;
            }
            g
        })
    };

    let (mut consistent, mut conflicts) = (0, 0);
    for round in 0..20 {
        let location = Location::new(
            Arc::new(tq_checkpoint::object_store::memory::InMemory::new()),
            format!("ckpt/{round}").into(),
        );
        let options = SaveOptions::default()
            .with_partitions(&["train"])
            .with_rows_per_read(8)
            .with_attempts(5);
        match save_with(&store, &location, &options).await {
            Ok(manifest) => {
                assert!(manifest.partitions[0].consistent);
                let target = memory_store();
                load(&target, &location, &LoadOptions::default())
                    .await
                    .unwrap();
                let listing = target.kv_list(Some("train")).await.unwrap();
                let tags: Vec<i64> = listing["train"]
                    .values()
                    .map(|t| t["gen"].as_i64().unwrap())
                    .collect();
                let got = target.kv_batch_get(&keys, "train", None).await.unwrap();
                let cells: Vec<i64> = got
                    .column("gen")
                    .and_then(|c| c.as_tensor())
                    .and_then(|c| c.as_dense())
                    .unwrap()
                    .to_vec()
                    .unwrap();
                assert_eq!(tags.len(), ROWS);
                assert!(
                    tags.iter().all(|g| *g == tags[0]),
                    "tags mix generations: {tags:?}"
                );
                assert!(
                    cells.iter().all(|g| *g == tags[0]),
                    "cells {cells:?} vs tag {}",
                    tags[0]
                );
                consistent += 1;
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
                assert!(location.store().head(&location.manifest()).await.is_err());
                conflicts += 1;
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    let generations = writer.await.unwrap();
    // The writer really raced the saves.
    assert!(generations > 20, "only {generations} generations written");
    assert!(
        consistent > 0,
        "no save succeeded in 20 ({conflicts} conflicts)"
    );
}
