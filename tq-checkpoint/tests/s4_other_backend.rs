//! S4: a checkpoint written from one backend loads into another. The other
//! backend here stores every cell as `tq_core::codec` bytes in one buffer
//! per cell (as RocksDB and Redis do), so values decoded from a checkpoint's
//! records go through a second encoding; the round trip memory -> bytes ->
//! memory must be exact.

mod common;

use std::sync::Arc;

use common::{dump, fill, memory_location, memory_store};
use tokio::sync::Mutex;
use tq_checkpoint::{LoadOptions, SaveOptions, load, save, save_with};
use tq_core::indexmap::IndexMap;
use tq_core::{
    Bytes, Capabilities, CellWrite, Cells, KvStore, Listing, Result, RowState, RowWrite,
    StorageBackend, Tag, async_trait, codec, merge_tag,
};

/// A row: its tag and its cells as codec bytes.
type StoredRow = (Tag, IndexMap<String, Vec<u8>>);

/// Partition -> key -> row, keys in insertion order.
#[derive(Debug, Default)]
struct BytesBackend {
    partitions: Mutex<IndexMap<String, IndexMap<String, StoredRow>>>,
}

#[async_trait]
impl StorageBackend for BytesBackend {
    fn name(&self) -> &str {
        "test-bytes"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
    }

    async fn put(&self, partition: &str, rows: Vec<RowWrite>) -> Result<Vec<RowState>> {
        let mut partitions = self.partitions.lock().await;
        let part = partitions.entry(partition.to_owned()).or_default();
        let mut states = Vec::with_capacity(rows.len());
        for row in rows {
            let existed = part.contains_key(&row.key);
            if !existed && !row.creates() {
                states.push(RowState::absent());
                continue;
            }
            let (tag, cells) = part.entry(row.key.clone()).or_default();
            for (field, cell) in row.cells {
                match cell {
                    CellWrite::Set(value) => {
                        cells.insert(field, codec::encode(&value));
                    }
                    CellWrite::Remove => {
                        cells.shift_remove(&field);
                    }
                    other => panic!("unknown cell write {other:?}"),
                }
            }
            if let Some(patch) = &row.tag {
                merge_tag(tag, patch);
            }
            states.push(RowState::new(
                tag.clone(),
                cells.keys().cloned().collect(),
                existed,
            ));
        }
        Ok(states)
    }

    async fn get(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<Option<Cells>>> {
        let partitions = self.partitions.lock().await;
        let part = partitions.get(partition);
        keys.iter()
            .map(|key| {
                let Some((_, cells)) = part.and_then(|p| p.get(key)) else {
                    return Ok(None);
                };
                cells
                    .iter()
                    .filter(|(f, _)| fields.is_none_or(|want| want.contains(f)))
                    .map(|(f, bytes)| Ok((f.clone(), codec::decode(Bytes::from(bytes.clone()))?)))
                    .collect::<Result<Cells>>()
                    .map(Some)
            })
            .collect()
    }

    async fn list(&self, partition: Option<&str>) -> Result<Listing> {
        let partitions = self.partitions.lock().await;
        Ok(partitions
            .iter()
            .filter(|(p, rows)| !rows.is_empty() && partition.is_none_or(|want| want == *p))
            .map(|(p, rows)| {
                let keys = rows
                    .iter()
                    .map(|(k, (tag, _))| (k.clone(), tag.clone()))
                    .collect();
                (p.clone(), keys)
            })
            .collect())
    }

    async fn clear(&self, partition: &str, keys: &[String]) -> Result<usize> {
        let mut partitions = self.partitions.lock().await;
        let Some(part) = partitions.get_mut(partition) else {
            return Ok(0);
        };
        Ok(keys
            .iter()
            .filter(|k| part.shift_remove(*k).is_some())
            .count())
    }
}

#[tokio::test]
async fn s4_checkpoint_of_one_backend_loads_into_another() {
    let memory = memory_store();
    fill(&memory).await;
    let first = memory_location();
    save(&memory, &first, None).await.unwrap();

    let bytes = KvStore::new(Arc::new(BytesBackend::default()));
    load(&bytes, &first, &LoadOptions::default()).await.unwrap();
    assert_eq!(dump(&bytes).await, dump(&memory).await);

    // And back: saved from the bytes backend, loaded into memory. It has
    // no versioned reads, so only a fuzzy save is allowed (nothing writes
    // meanwhile, so the copy is exact all the same).
    let second = memory_location();
    let fuzzy = SaveOptions::default().with_allow_fuzzy(true);
    let manifest = save_with(&bytes, &second, &fuzzy).await.unwrap();
    assert!(manifest.partitions.iter().all(|p| !p.consistent));
    let again = memory_store();
    load(&again, &second, &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(dump(&again).await, dump(&memory).await);
}

#[tokio::test]
async fn s4_loaded_tensors_are_aligned_for_their_dtype() {
    // Typed views borrow only aligned bytes: a load must not leave tensors
    // at odd offsets of its read buffers.
    let memory = memory_store();
    fill(&memory).await;
    let location = memory_location();
    save(&memory, &location, None).await.unwrap();
    let target = memory_store();
    load(&target, &location, &LoadOptions::default())
        .await
        .unwrap();
    let mut tensors = 0;
    for (partition, keys) in target.kv_list(None).await.unwrap() {
        let keys: Vec<String> = keys.into_keys().collect();
        for cells in target.backend().get(&partition, &keys, None).await.unwrap() {
            for (field, value) in cells.unwrap() {
                if let Some(t) = value.as_tensor() {
                    tensors += 1;
                    let at = t.data().as_ptr() as usize;
                    assert_eq!(at % t.dtype().size(), 0, "{partition}/{field}: {t:?}");
                }
            }
        }
    }
    assert!(tensors > 20, "{tensors}");
}
