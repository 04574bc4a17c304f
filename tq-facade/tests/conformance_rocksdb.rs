//! The conformance suite through the facade with `backend = "rocksdb"`: a
//! TOML config selects the RocksDB backend and the built-in registry checks
//! its `[rocksdb]` table; the store opens from those settings under the
//! facade's `TransferQueue`. Each case gets a fresh store in its own
//! temporary directory, with the hooks the suite asks of a persistent store
//! that keeps bytes (corruption of an open store, reopen).
//!
//! Needs the facade's `rocksdb` and `testing` features (compiling RocksDB
//! takes minutes; the README's test command turns on every feature):
//! `cargo test -p tq-facade --features rocksdb,testing --test conformance_rocksdb`.
#![cfg(all(feature = "rocksdb", feature = "testing"))]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};

use tempfile::TempDir;
use tq_backend_rocksdb::{MAX_VALUE_BYTES, RocksDbBackend, RocksDbConfig};
use tq_facade::core::conformance::Fixture;
use tq_facade::{
    BackendRegistry, Capabilities, Config, Error, Notifications, Result, TransferQueue,
};

/// The backend the corruption hook reaches: the one opened last.
type Current = Arc<Mutex<Weak<RocksDbBackend>>>;

/// The settings the TOML file gives, checked by the built-in registry.
fn settings(dir: &TempDir) -> Result<RocksDbConfig> {
    let path = dir
        .path()
        .to_str()
        .ok_or_else(|| Error::unexpected("the temporary directory is not UTF-8"))?;
    // A TOML string literal, escaped by the toml crate.
    let path = toml::Value::String(path.to_owned());
    let config = Config::from_toml_str(&format!(
        "backend = \"rocksdb\"\n[rocksdb]\npath = {path}\n"
    ))?;
    BackendRegistry::default().validate(&config)?;
    let table = config.settings("rocksdb").cloned().unwrap_or_default();
    toml::Value::Table(table)
        .try_into()
        .map_err(|e| Error::config(format!("[rocksdb]: {e}")))
}

fn fixture(
    dir: Arc<TempDir>,
    current: Current,
) -> Pin<Box<dyn Future<Output = Result<Fixture>> + Send>> {
    Box::pin(async move {
        let backend = Arc::new(RocksDbBackend::open(settings(&dir)?).await?);
        *current.lock().map_err(|_| Error::unexpected("poisoned"))? = Arc::downgrade(&backend);
        let corrupt_current = current.clone();
        let reopen_dir = dir.clone();
        let claims = Capabilities::new()
            .with_persistent(true)
            .with_atomic_batch(true)
            .with_max_value_bytes(Some(MAX_VALUE_BYTES))
            .with_conditional_write(true)
            .with_notifications(Notifications::InProcess);
        Ok(Fixture::wrapping(backend, |b| {
            Ok(TransferQueue::from_backend(b).store().clone())
        })?
        .claims(claims)
        .with_guard(dir)
        .with_corruptor(move |partition, key, what| {
            // Only a weak handle: a strong one would keep the store
            // open and a reopen would find it locked.
            let backend = corrupt_current.lock().ok().and_then(|weak| weak.upgrade());
            async move {
                let backend =
                    backend.ok_or_else(|| Error::unexpected("the fixture's store is closed"))?;
                backend.corrupt_row_for_tests(&partition, &key, what).await
            }
        })
        .with_reopen(move || fixture(reopen_dir.clone(), current.clone()))
        .without_capacity_limit())
    })
}

tq_facade::core::conformance_tests!(|| async {
    let dir = tempfile::tempdir().map_err(|e| Error::unexpected(e.to_string()))?;
    fixture(Arc::new(dir), Current::default()).await
});
