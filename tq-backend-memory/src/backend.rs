//! The `StorageBackend` implementation.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use indexmap::IndexMap;
use parking_lot::RwLock;
use tq_core::{
    Capabilities, CellWrite, Cells, ConditionalBackend, Error, ErrorKind, Listing, Notifications,
    PutIfOutcome, Result, RowState, RowVersion, RowWrite, StorageBackend, Tag, Value, VersionedRow,
    WatchBackend, WatchHub, WatchStream, WrittenRow, merge_tag,
};

use crate::config::MemoryConfig;
use crate::partition::{Locked, Partition, StoredRow};

/// The in-process backend. See the crate docs for its design.
///
/// ```
/// use std::sync::Arc;
/// use tq_backend_memory::MemoryBackend;
/// let kv = tq_core::KvStore::new(Arc::new(MemoryBackend::new()));
/// ```
#[derive(Debug, Default)]
pub struct MemoryBackend {
    partitions: RwLock<HashMap<String, Arc<Partition>>>,
    config: MemoryConfig,
    /// Payload bytes stored; maintained only when a capacity is set.
    used: AtomicU64,
    /// The last row version handed out (0 is `RowVersion::ABSENT`).
    versions: AtomicU64,
    /// Watchers by partition; writes publish into it under their shard
    /// locks, so events of a key leave in apply order.
    watchers: WatchHub,
}

fn internal(key: &str) -> Error {
    Error::unexpected("shard of a key was not locked").with_context("key", key)
}

impl MemoryBackend {
    /// An empty store with no capacity limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with the given settings.
    pub fn with_config(config: MemoryConfig) -> Self {
        MemoryBackend {
            watchers: WatchHub::with_capacity(config.watch_buffer),
            config,
            ..Self::default()
        }
    }

    /// The settings.
    pub fn config(&self) -> &MemoryConfig {
        &self.config
    }

    /// Payload bytes stored now, counted as [`MemoryConfig::capacity_bytes`]
    /// counts them; always 0 when no capacity is set (nothing is tracked).
    pub fn used_bytes(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// How many partitions the store holds now (empty ones are dropped).
    pub fn partition_count(&self) -> usize {
        self.partitions.read().len()
    }

    fn next_version(&self) -> u64 {
        self.versions.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The partition for a write of `rows`: created if a row write creates
    /// its row, else `None` when it does not exist (removals only).
    fn partition_for<'a>(
        &self,
        name: &str,
        mut rows: impl Iterator<Item = &'a RowWrite>,
    ) -> Option<Arc<Partition>> {
        if rows.any(RowWrite::creates) {
            Some(self.partition_or_create(name))
        } else {
            self.partition(name)
        }
    }

    fn partition(&self, name: &str) -> Option<Arc<Partition>> {
        self.partitions.read().get(name).cloned()
    }

    fn partition_or_create(&self, name: &str) -> Arc<Partition> {
        if let Some(p) = self.partition(name) {
            return p;
        }
        self.partitions
            .write()
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Partition::new()))
            .clone()
    }

    /// Drops `name` from the map if it is empty and no other call holds it.
    /// Callers that got the partition before we took the write lock still
    /// hold an `Arc`, so the strong count tells us whether anyone could
    /// still write to it.
    fn drop_if_empty(&self, name: &str, partition: Arc<Partition>) {
        let mut map = self.partitions.write();
        let Some(current) = map.get(name) else { return };
        // One count is the map's, one is `partition`.
        if Arc::ptr_eq(current, &partition)
            && Arc::strong_count(&partition) == 2
            && partition.lock_all().is_empty()
        {
            map.remove(name);
        }
    }

    /// Reserves `delta` payload bytes against the capacity, or fails naming
    /// the partition. Only called when a capacity is set.
    fn reserve(&self, delta: i64, capacity: u64, partition: &str) -> Result<()> {
        let mut current = self.used.load(Ordering::Relaxed);
        loop {
            let next = current.saturating_add_signed(delta);
            if delta > 0 && next > capacity {
                return Err(Error::new(
                    ErrorKind::CapacityExceeded,
                    format!("the put needs {delta} more bytes; {current} of {capacity} are in use"),
                )
                .with_context("partition", partition));
            }
            match self.used.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }
}

/// Payload bytes of a row's cells.
fn row_bytes<'a>(cells: impl Iterator<Item = &'a Value>) -> u64 {
    cells.map(|v| v.nbytes() as u64).sum()
}

/// The change in stored payload bytes if `rows` were written now.
fn put_delta<'a>(
    locked: &mut Locked<'_>,
    rows: impl IntoIterator<Item = &'a RowWrite>,
) -> Result<i64> {
    let mut delta = 0i64;
    for row in rows {
        let shard = locked.shard(&row.key).ok_or_else(|| internal(&row.key))?;
        let old = shard.get(&row.key);
        for (field, cell) in &row.cells {
            if let CellWrite::Set(value) = cell {
                delta += value.nbytes() as i64;
            }
            if let Some(old) = old.and_then(|r| r.cell(field)) {
                delta -= old.nbytes() as i64;
            }
        }
    }
    Ok(delta)
}

/// Refuses, before anything is written, a cell write this backend does not
/// know (one added to tq-core after it was built).
fn check_known_cells<'a>(
    partition: &str,
    rows: impl IntoIterator<Item = &'a RowWrite>,
) -> Result<()> {
    for row in rows {
        for (field, cell) in &row.cells {
            if !matches!(cell, CellWrite::Set(_) | CellWrite::Remove) {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("the memory backend does not know the cell write {cell:?}"),
                )
                .with_context("partition", partition)
                .with_context("key", row.key.clone())
                .with_context("field", field.clone()));
            }
        }
    }
    Ok(())
}

fn apply(
    partition: &Partition,
    locked: &mut Locked<'_>,
    row: RowWrite,
    version: u64,
) -> Result<RowState> {
    let shard = locked.shard(&row.key).ok_or_else(|| internal(&row.key))?;
    let existed = shard.contains_key(&row.key);
    if !existed && !row.creates() {
        return Ok(RowState::absent());
    }
    let cell_count = row.cells.len();
    let stored = shard.entry(row.key).or_insert_with(|| StoredRow {
        seq: partition.next_seq(),
        version,
        cells: Vec::with_capacity(cell_count),
        tag: Tag::new(),
    });
    stored.version = version;
    for (field, cell) in row.cells {
        match cell {
            CellWrite::Set(value) => match stored.cells.iter_mut().find(|(f, _)| *f == field) {
                Some(slot) => slot.1 = value,
                None => stored.cells.push((field, value)),
            },
            // Checked by `check_known_cells` before any row was applied.
            _ => stored.cells.retain(|(f, _)| *f != field),
        }
    }
    if let Some(patch) = &row.tag {
        merge_tag(&mut stored.tag, patch);
    }
    Ok(RowState::new(
        stored.tag.clone(),
        stored.cells.iter().map(|(f, _)| f.clone()).collect(),
        existed,
    ))
}

#[async_trait]
impl StorageBackend for MemoryBackend {
    fn name(&self) -> &str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_atomic_batch(true)
            .with_zero_copy_put(true)
            .with_conditional_write(true)
            .with_notifications(Notifications::InProcess)
    }

    fn as_conditional(&self) -> Option<&dyn ConditionalBackend> {
        Some(self)
    }

    fn as_watch(&self) -> Option<&dyn WatchBackend> {
        Some(self)
    }

    async fn put(&self, partition_name: &str, rows: Vec<RowWrite>) -> Result<Vec<RowState>> {
        check_known_cells(partition_name, &rows)?;
        // A call that only removes fields creates no partition.
        let Some(partition) = self.partition_for(partition_name, rows.iter()) else {
            return Ok(vec![RowState::absent(); rows.len()]);
        };
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        let mut locked = partition.lock(&keys);
        if let Some(capacity) = self.config.capacity_bytes {
            let delta = put_delta(&mut locked, &rows)?;
            self.reserve(delta, capacity, partition_name)?;
        }
        // Looked up under the shard locks: a watcher subscribing after this
        // reads the rows after these locks are released, so it sees the write.
        let publisher = self.watchers.publisher(partition_name);
        let written: Vec<WrittenRow> = match publisher {
            Some(_) => rows.iter().map(WrittenRow::of).collect(),
            None => Vec::new(),
        };
        let states = rows
            .into_iter()
            .map(|row| apply(&partition, &mut locked, row, self.next_version()))
            .collect::<Result<Vec<_>>>()?;
        if let Some(publisher) = publisher {
            for (row, state) in written.into_iter().zip(&states) {
                publisher.written(row, state);
            }
        }
        Ok(states)
    }

    async fn get(
        &self,
        partition_name: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<Option<Cells>>> {
        let Some(partition) = self.partition(partition_name) else {
            return Ok(vec![None; keys.len()]);
        };
        let mut locked = partition.lock(keys);
        keys.iter()
            .map(|key| {
                let shard = locked.shard(key).ok_or_else(|| internal(key))?;
                Ok(shard.get(key).map(|row| select(row, fields)))
            })
            .collect()
    }

    async fn list(&self, partition_name: Option<&str>) -> Result<Listing> {
        let partitions: Vec<(String, Arc<Partition>)> = match partition_name {
            Some(name) => self
                .partition(name)
                .map(|p| (name.to_owned(), p))
                .into_iter()
                .collect(),
            None => self
                .partitions
                .read()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let mut listing = Listing::new();
        for (name, partition) in partitions {
            let locked = partition.lock_all();
            let mut rows: Vec<(u64, &String, &Tag)> = locked
                .shards()
                .flat_map(|s| s.iter().map(|(k, r)| (r.seq, k, &r.tag)))
                .collect();
            if rows.is_empty() {
                continue;
            }
            rows.sort_unstable_by_key(|(seq, _, _)| *seq);
            let keys: IndexMap<String, Tag> = rows
                .into_iter()
                .map(|(_, k, t)| (k.clone(), t.clone()))
                .collect();
            listing.insert(name, keys);
        }
        Ok(listing)
    }

    async fn clear(&self, partition_name: &str, keys: &[String]) -> Result<usize> {
        let Some(partition) = self.partition(partition_name) else {
            return Ok(0);
        };
        let (removed, freed, now_empty) = {
            let mut locked = partition.lock(keys);
            let publisher = self.watchers.publisher(partition_name);
            let mut removed = 0usize;
            let mut freed = 0u64;
            for key in keys {
                let shard = locked.shard(key).ok_or_else(|| internal(key))?;
                if let Some(row) = shard.remove(key) {
                    removed += 1;
                    freed += row_bytes(row.cells.iter().map(|(_, v)| v));
                    if let Some(publisher) = &publisher {
                        publisher.rows_cleared([key.as_str()]);
                    }
                }
            }
            (removed, freed, removed > 0 && locked.is_empty())
        };
        if self.config.capacity_bytes.is_some() && freed > 0 {
            self.used.fetch_sub(freed, Ordering::Relaxed);
        }
        if now_empty {
            self.drop_if_empty(partition_name, partition);
        }
        Ok(removed)
    }
}

/// Versions are checked and rows written under the same shard locks, so no
/// other write of those rows can come between.
#[async_trait]
impl ConditionalBackend for MemoryBackend {
    async fn get_versioned(
        &self,
        partition_name: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<VersionedRow>> {
        let Some(partition) = self.partition(partition_name) else {
            return Ok(vec![VersionedRow::absent(); keys.len()]);
        };
        let mut locked = partition.lock(keys);
        keys.iter()
            .map(|key| {
                let shard = locked.shard(key).ok_or_else(|| internal(key))?;
                Ok(match shard.get(key) {
                    None => VersionedRow::absent(),
                    Some(row) => VersionedRow::new(
                        RowVersion::new(u128::from(row.version)),
                        select(row, fields),
                        row.tag.clone(),
                    ),
                })
            })
            .collect()
    }

    async fn put_if(
        &self,
        partition_name: &str,
        rows: Vec<(RowWrite, RowVersion)>,
    ) -> Result<Vec<PutIfOutcome>> {
        check_known_cells(partition_name, rows.iter().map(|(w, _)| w))?;
        let Some(partition) = self.partition_for(partition_name, rows.iter().map(|(w, _)| w))
        else {
            // Removals only, in a partition that does not exist: each row
            // is missing, which only an expected ABSENT matches.
            return Ok(rows
                .iter()
                .map(|(_, expected)| match expected.is_absent() {
                    true => PutIfOutcome::Written(RowState::absent()),
                    false => PutIfOutcome::Conflict,
                })
                .collect());
        };
        let keys: Vec<&str> = rows.iter().map(|(w, _)| w.key.as_str()).collect();
        let mut locked = partition.lock(&keys);
        let mut current = Vec::with_capacity(rows.len());
        for (write, expected) in &rows {
            let shard = locked
                .shard(&write.key)
                .ok_or_else(|| internal(&write.key))?;
            let version = shard.get(&write.key).map_or(0, |r| r.version);
            current.push(u128::from(version) == expected.get());
        }
        if let Some(capacity) = self.config.capacity_bytes {
            let landing = rows.iter().zip(&current).filter(|(_, ok)| **ok);
            let delta = put_delta(&mut locked, landing.map(|((w, _), _)| w))?;
            self.reserve(delta, capacity, partition_name)?;
        }
        let publisher = self.watchers.publisher(partition_name);
        rows.into_iter()
            .zip(current)
            .map(|((write, _), ok)| {
                if !ok {
                    return Ok(PutIfOutcome::Conflict);
                }
                let written = publisher.as_ref().map(|_| WrittenRow::of(&write));
                let state = apply(&partition, &mut locked, write, self.next_version())?;
                if let (Some(publisher), Some(written)) = (&publisher, written) {
                    publisher.written(written, &state);
                }
                Ok(PutIfOutcome::Written(state))
            })
            .collect()
    }
}

/// Events are published under the shard locks of the rows written (see
/// [`WatchHub`]); each watcher buffers [`MemoryConfig::watch_buffer`]
/// events before it lags.
#[async_trait]
impl WatchBackend for MemoryBackend {
    async fn watch(&self, partition: &str) -> Result<WatchStream> {
        Ok(self.watchers.subscribe(partition))
    }
}

/// The cells of `row` a get asks for.
fn select(row: &StoredRow, fields: Option<&[String]>) -> Cells {
    match fields {
        None => row.cells.clone(),
        Some(fields) => fields
            .iter()
            .filter_map(|f| row.cell(f).map(|v| (f.clone(), v.clone())))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    fn write(key: &str) -> Vec<RowWrite> {
        vec![RowWrite::new(key).with_tag(Tag::new())]
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn other_partitions_and_shards_do_not_wait_for_a_held_shard() {
        let backend = Arc::new(MemoryBackend::new());
        block_on(backend.put("p1", write("a"))).unwrap();
        let p1 = backend.partition("p1").unwrap();
        let other_key = (0..)
            .map(|i| format!("k{i}"))
            .find(|k| p1.shard_of(k) != p1.shard_of("a"))
            .unwrap();
        let held = p1.lock(&["a"]);

        let (done, finished) = mpsc::channel();
        let worker = {
            let backend = backend.clone();
            std::thread::spawn(move || {
                block_on(async {
                    backend.put("p2", write("a")).await.unwrap();
                    backend.put("p1", write(&other_key)).await.unwrap();
                    backend.get("p2", &["a".to_owned()], None).await.unwrap();
                });
                done.send(()).unwrap();
            })
        };
        finished
            .recv_timeout(Duration::from_secs(10))
            .expect("a call on another partition or shard waited for a lock it does not need");
        drop(held);
        worker.join().unwrap();
    }

    #[test]
    fn a_call_on_the_held_shard_waits() {
        let backend = Arc::new(MemoryBackend::new());
        block_on(backend.put("p1", write("a"))).unwrap();
        let p1 = backend.partition("p1").unwrap();
        let held = p1.lock(&["a"]);
        let (done, finished) = mpsc::channel();
        let worker = {
            let backend = backend.clone();
            std::thread::spawn(move || {
                block_on(backend.put("p1", write("a"))).unwrap();
                done.send(()).unwrap();
            })
        };
        // The control case: the test above would pass vacuously if locks
        // did not exclude at all.
        assert!(finished.recv_timeout(Duration::from_millis(200)).is_err());
        drop(held);
        finished.recv_timeout(Duration::from_secs(10)).unwrap();
        worker.join().unwrap();
    }
}
