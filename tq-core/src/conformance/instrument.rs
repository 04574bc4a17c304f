//! A layer between the KV engine and the backend under test that counts the
//! backend calls, so the suite can check B1 (one backend call per kv_*
//! operation) on every stack, the facade's included, and that can make
//! conditional writes of chosen keys conflict, so the suite can check U4
//! (bounded retries) on every backend that offers them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::backend::{Capabilities, StorageBackend};
use crate::conditional::{ConditionalBackend, PutIfOutcome, RowVersion, VersionedRow};
use crate::error::{Error, Result};
use crate::meta::Listing;
use crate::row_write::{Cells, RowState, RowWrite};
use crate::watch::WatchBackend;

/// How many times each backend method was called.
#[derive(Debug, Default)]
pub struct BackendCalls {
    put: AtomicUsize,
    get: AtomicUsize,
    list: AtomicUsize,
    clear: AtomicUsize,
    /// Key -> how many more conditional writes of it answer `Conflict`.
    conflicts: Mutex<HashMap<String, usize>>,
}

/// A reading of [`BackendCalls`]: `[put, get, list, clear]`.
pub type CallCounts = [usize; 4];

impl BackendCalls {
    /// The counts so far, as `[put, get, list, clear]`.
    pub fn counts(&self) -> CallCounts {
        [&self.put, &self.get, &self.list, &self.clear].map(|c| c.load(Ordering::SeqCst))
    }

    /// Makes the next `times` conditional writes of `key` (in any partition)
    /// answer [`PutIfOutcome::Conflict`] without reaching the backend, as if
    /// another writer had changed the row each time. `usize::MAX`: always.
    pub fn force_conflicts(&self, key: &str, times: usize) {
        let mut conflicts = self.conflicts.lock().unwrap_or_else(|e| e.into_inner());
        conflicts.insert(key.to_owned(), times);
    }

    /// Whether this conditional write of `key` is forced to conflict
    /// (counting it down).
    fn take_conflict(&self, key: &str) -> bool {
        let mut conflicts = self.conflicts.lock().unwrap_or_else(|e| e.into_inner());
        match conflicts.get_mut(key) {
            Some(0) | None => false,
            Some(left) => {
                *left = left.saturating_sub(usize::from(*left != usize::MAX));
                true
            }
        }
    }
}

/// Forwards every call to the backend under test, counting it.
#[derive(Debug)]
pub struct Instrumented {
    inner: Arc<dyn StorageBackend>,
    calls: Arc<BackendCalls>,
}

impl Instrumented {
    /// `inner`, counted; the counts are shared with the returned handle.
    pub fn new(inner: Arc<dyn StorageBackend>) -> (Self, Arc<BackendCalls>) {
        let calls = Arc::new(BackendCalls::default());
        (
            Instrumented {
                inner,
                calls: calls.clone(),
            },
            calls,
        )
    }
}

#[async_trait]
impl StorageBackend for Instrumented {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn put(&self, partition: &str, rows: Vec<RowWrite>) -> Result<Vec<RowState>> {
        self.calls.put.fetch_add(1, Ordering::SeqCst);
        self.inner.put(partition, rows).await
    }

    async fn get(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<Option<Cells>>> {
        self.calls.get.fetch_add(1, Ordering::SeqCst);
        self.inner.get(partition, keys, fields).await
    }

    async fn list(&self, partition: Option<&str>) -> Result<Listing> {
        self.calls.list.fetch_add(1, Ordering::SeqCst);
        self.inner.list(partition).await
    }

    async fn clear(&self, partition: &str, keys: &[String]) -> Result<usize> {
        self.calls.clear.fetch_add(1, Ordering::SeqCst);
        self.inner.clear(partition, keys).await
    }

    fn as_conditional(&self) -> Option<&dyn ConditionalBackend> {
        self.inner.as_conditional()?;
        Some(self)
    }

    fn as_watch(&self) -> Option<&dyn WatchBackend> {
        self.inner.as_watch()
    }
}

impl Instrumented {
    fn conditional(&self) -> Result<&dyn ConditionalBackend> {
        self.inner.as_conditional().ok_or_else(|| {
            Error::unexpected("the backend under test stopped offering conditional writes")
        })
    }
}

/// Forwards to the backend's own conditional writes, except those of keys
/// forced to conflict ([`BackendCalls::force_conflicts`]).
#[async_trait]
impl ConditionalBackend for Instrumented {
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
        let forced: Vec<bool> = rows
            .iter()
            .map(|(w, _)| self.calls.take_conflict(&w.key))
            .collect();
        let passed: Vec<(RowWrite, RowVersion)> = rows
            .into_iter()
            .zip(&forced)
            .filter(|(_, f)| !**f)
            .map(|(r, _)| r)
            .collect();
        let mut landed = if passed.is_empty() {
            Vec::new()
        } else {
            self.conditional()?.put_if(partition, passed).await?
        }
        .into_iter();
        forced
            .into_iter()
            .map(|f| match f {
                true => Ok(PutIfOutcome::Conflict),
                false => landed.next().ok_or_else(|| {
                    Error::unexpected("the backend returned fewer outcomes than rows")
                }),
            })
            .collect()
    }
}
