//! A wrapping layer that gives a single-process backend the watch ability.

use std::hash::{DefaultHasher, Hash, Hasher};

use async_trait::async_trait;
use tokio::sync::Mutex;

use crate::backend::{Capabilities, StorageBackend};
use crate::conditional::{ConditionalBackend, PutIfOutcome, RowVersion, VersionedRow};
use crate::error::{Error, Result};
use crate::meta::Listing;
use crate::row_write::{Cells, RowState, RowWrite};
use crate::watch::{Notifications, WatchBackend, WatchStream};
use crate::watch_hub::{WatchHub, WrittenRow};

/// Lock stripes of the layer: writes of partitions in different stripes
/// never wait for each other.
const STRIPES: usize = 64;

/// Wraps a backend that one process uses and publishes each write it
/// applies to the watchers of its partition, so `kv_watch` and a pushed
/// `kv_wait` work on it ([`Notifications::InProcess`]).
///
/// The layer cannot hold the inner backend's row locks, so to deliver the
/// events of one key in apply order (N3) it runs the writes of one
/// partition (puts, conditional puts, clears) one at a time, each with its
/// publishing; a new watcher waits for the write in flight. Reads are not
/// serialized. While nobody watches a partition its writes are not copied
/// for events. A backend that can publish under
/// its own row locks into a [`WatchHub`] (as tq-rs's memory and RocksDB
/// backends do) avoids that cost.
///
/// ```
/// # use std::sync::Arc;
/// # fn demo(my_backend: impl tq_core::StorageBackend) -> tq_core::Result<()> {
/// let kv = tq_core::KvStore::new(Arc::new(tq_core::WatchLayer::new(my_backend)?));
/// assert!(kv.capabilities().notifications.pushes());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct WatchLayer<B> {
    inner: B,
    hub: WatchHub,
    write_locks: Vec<Mutex<()>>,
}

impl<B: StorageBackend> WatchLayer<B> {
    /// Wraps `inner`. A backend shared by several processes is refused
    /// (`Unsupported`): its other processes' writes would never reach this
    /// process's watchers, and a waiter would wait for nothing.
    pub fn new(inner: B) -> Result<Self> {
        Self::with_capacity(inner, WatchHub::DEFAULT_CAPACITY)
    }

    /// As [`new`](Self::new), with watchers buffering up to `capacity`
    /// events before they lag.
    pub fn with_capacity(inner: B, capacity: usize) -> Result<Self> {
        if inner.capabilities().shared_across_processes {
            return Err(Error::unsupported(format!(
                "backend {} is shared between processes: an in-process watch would miss the \
                 writes of other processes; give it a watch of its own (WatchBackend) or let \
                 kv_wait poll",
                inner.name()
            )));
        }
        Ok(WatchLayer {
            inner,
            hub: WatchHub::with_capacity(capacity),
            write_locks: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        })
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    fn write_lock(&self, partition: &str) -> &Mutex<()> {
        let mut hasher = DefaultHasher::new();
        partition.hash(&mut hasher);
        &self.write_locks[(hasher.finish() % STRIPES as u64) as usize]
    }
}

#[async_trait]
impl<B: StorageBackend> StorageBackend for WatchLayer<B> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner
            .capabilities()
            .with_notifications(Notifications::InProcess)
    }

    async fn put(&self, partition: &str, rows: Vec<RowWrite>) -> Result<Vec<RowState>> {
        let _serial = self.write_lock(partition).lock().await;
        let Some(publisher) = self.hub.publisher(partition) else {
            return self.inner.put(partition, rows).await;
        };
        // The events need the writes' names after the backend consumed
        // them: names only, never a copy of the values.
        let written: Vec<WrittenRow> = rows.iter().map(WrittenRow::of).collect();
        let states = self.inner.put(partition, rows).await?;
        for (row, state) in written.into_iter().zip(&states) {
            publisher.written(row, state);
        }
        Ok(states)
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
        let _serial = self.write_lock(partition).lock().await;
        let Some(publisher) = self.hub.publisher(partition) else {
            return self.inner.clear(partition, keys).await;
        };
        // A clear reports how many rows it removed, not which: find out
        // under the partition's write lock, where no write can interleave.
        let present = self.inner.get(partition, keys, Some(&[])).await?;
        let removed = self.inner.clear(partition, keys).await?;
        let cleared = keys
            .iter()
            .zip(&present)
            .filter(|(_, row)| row.is_some())
            .map(|(key, _)| key.as_str());
        publisher.rows_cleared(cleared);
        Ok(removed)
    }

    fn as_conditional(&self) -> Option<&dyn ConditionalBackend> {
        self.inner.as_conditional()?;
        Some(self)
    }

    fn as_watch(&self) -> Option<&dyn WatchBackend> {
        Some(self)
    }
}

#[async_trait]
impl<B: StorageBackend> ConditionalBackend for WatchLayer<B> {
    async fn get_versioned(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<VersionedRow>> {
        self.conditional()?
            .get_versioned(partition, keys, fields)
            .await
    }

    async fn put_if(
        &self,
        partition: &str,
        rows: Vec<(RowWrite, RowVersion)>,
    ) -> Result<Vec<PutIfOutcome>> {
        let inner = self.conditional()?;
        let _serial = self.write_lock(partition).lock().await;
        let Some(publisher) = self.hub.publisher(partition) else {
            return inner.put_if(partition, rows).await;
        };
        let written: Vec<WrittenRow> = rows.iter().map(|(w, _)| WrittenRow::of(w)).collect();
        let outcomes = inner.put_if(partition, rows).await?;
        for (row, outcome) in written.into_iter().zip(&outcomes) {
            if let PutIfOutcome::Written(state) = outcome {
                publisher.written(row, state);
            }
        }
        Ok(outcomes)
    }
}

impl<B: StorageBackend> WatchLayer<B> {
    fn conditional(&self) -> Result<&dyn ConditionalBackend> {
        self.inner.as_conditional().ok_or_else(|| {
            Error::unexpected("the wrapped backend stopped offering conditional writes")
        })
    }
}

#[async_trait]
impl<B: StorageBackend> WatchBackend for WatchLayer<B> {
    async fn watch(&self, partition: &str) -> Result<WatchStream> {
        // Writes decide whether to publish when they start, under this
        // lock: subscribing under it too means a write that saw no watcher
        // has finished before the subscription exists (N1), so a kv_wait
        // that checks after subscribing sees it.
        let _serial = self.write_lock(partition).lock().await;
        Ok(self.hub.subscribe(partition))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// A backend that stores nothing; only its claims matter here.
    #[derive(Debug)]
    struct Claims(Capabilities);

    #[async_trait]
    impl StorageBackend for Claims {
        fn name(&self) -> &str {
            "claims"
        }
        fn capabilities(&self) -> Capabilities {
            self.0
        }
        async fn put(&self, _: &str, rows: Vec<RowWrite>) -> Result<Vec<RowState>> {
            Ok(vec![RowState::absent(); rows.len()])
        }
        async fn get(
            &self,
            _: &str,
            keys: &[String],
            _: Option<&[String]>,
        ) -> Result<Vec<Option<Cells>>> {
            Ok(vec![None; keys.len()])
        }
        async fn list(&self, _: Option<&str>) -> Result<Listing> {
            Ok(Listing::new())
        }
        async fn clear(&self, _: &str, _: &[String]) -> Result<usize> {
            Ok(0)
        }
    }

    #[test]
    fn a_backend_shared_between_processes_is_refused() {
        let shared = Claims(Capabilities::new().with_shared_across_processes(true));
        let err = WatchLayer::new(shared).expect_err("an in-process watch of a shared store");
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert!(err.to_string().contains("claims"), "{err}");
    }

    #[test]
    fn the_layer_reports_in_process_pushes_and_keeps_the_other_claims() {
        let single = Claims(Capabilities::new().with_persistent(true));
        let layer = WatchLayer::new(single).expect("a single-process backend");
        let caps = layer.capabilities();
        assert_eq!(caps.notifications, Notifications::InProcess);
        assert!(caps.persistent);
        assert!(layer.as_watch().is_some());
        assert!(layer.as_conditional().is_none());
    }
}
