//! tq-core's conformance suite against the RocksDB backend, one fresh store
//! in a temporary directory per case, with every hook the suite asks of a
//! persistent store that keeps bytes:
//!
//! - corruption: [`RocksDbBackend::corrupt_row_for_tests`] on the open store;
//!   the hook holds only a `Weak` to the backend, since a strong one would
//!   keep the store open and a reopen would find it locked;
//! - reopen: the same directory opened again, with the same hooks (after a
//!   reopen the corruption hook reaches the new backend);
//! - no capacity limit: RocksDB has no capacity setting.
//!
//! The directory is shared (`Arc<TempDir>`) by the fixture, the reopened
//! fixture and the reopen hook, so it lives as long as any of them.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};

use tempfile::TempDir;
use tq_backend_rocksdb::{MAX_VALUE_BYTES, RocksDbBackend, RocksDbConfig};
use tq_core::conformance::Fixture;
use tq_core::{Capabilities, Error, Notifications, Result};

/// The backend the corruption hook reaches: the one opened last on the
/// fixture's directory.
type Current = Arc<Mutex<Weak<RocksDbBackend>>>;

/// What the crate docs promise.
fn claims() -> Capabilities {
    Capabilities::new()
        .with_persistent(true)
        .with_atomic_batch(true)
        .with_max_value_bytes(Some(MAX_VALUE_BYTES))
        .with_conditional_write(true)
        .with_notifications(Notifications::InProcess)
}

/// A fixture over the store in `dir` (created if missing), with the hooks.
fn fixture(
    dir: Arc<TempDir>,
    current: Current,
) -> Pin<Box<dyn Future<Output = Result<Fixture>> + Send>> {
    Box::pin(async move {
        let backend = Arc::new(RocksDbBackend::open(RocksDbConfig::new(dir.path())).await?);
        *current.lock().map_err(|_| Error::unexpected("poisoned"))? = Arc::downgrade(&backend);
        let corrupt_current = current.clone();
        let reopen_dir = dir.clone();
        Ok(Fixture::from_backend_arc(backend)
            .claims(claims())
            .with_guard(dir)
            .with_corruptor(move |partition, key, what| {
                let backend = corrupt_current.lock().ok().and_then(|weak| weak.upgrade());
                async move {
                    let backend = backend.ok_or_else(|| {
                        Error::unexpected("the fixture's rocksdb store is closed")
                    })?;
                    backend.corrupt_row_for_tests(&partition, &key, what).await
                }
            })
            .with_reopen(move || fixture(reopen_dir.clone(), current.clone()))
            .without_capacity_limit())
    })
}

tq_core::conformance_tests!(|| async {
    let dir = tempfile::tempdir().map_err(|e| Error::unexpected(e.to_string()))?;
    fixture(Arc::new(dir), Current::default()).await
});
