//! A layer between the KV engine and the backend under test that counts the
//! backend calls, so the suite can check B1 (one backend call per kv_*
//! operation) on every stack, the facade's included.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use crate::backend::{Capabilities, Cells, RowState, RowWrite, StorageBackend};
use crate::error::Result;
use crate::meta::Listing;

/// How many times each backend method was called.
#[derive(Debug, Default)]
pub struct BackendCalls {
    put: AtomicUsize,
    get: AtomicUsize,
    list: AtomicUsize,
    clear: AtomicUsize,
}

/// A reading of [`BackendCalls`]: `[put, get, list, clear]`.
pub type CallCounts = [usize; 4];

impl BackendCalls {
    /// The counts so far, as `[put, get, list, clear]`.
    pub fn counts(&self) -> CallCounts {
        [&self.put, &self.get, &self.list, &self.clear].map(|c| c.load(Ordering::SeqCst))
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
}
