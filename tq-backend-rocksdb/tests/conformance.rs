//! tq-core's conformance suite against the RocksDB backend, one fresh store
//! in a temporary directory per case.

use tq_backend_rocksdb::{RocksDbBackend, RocksDbConfig};
use tq_core::conformance::Fixture;

tq_core::conformance_tests!(|| async {
    let dir = tempfile::tempdir().map_err(|e| tq_core::Error::unexpected(e.to_string()))?;
    let backend = RocksDbBackend::open(RocksDbConfig::new(dir.path())).await?;
    Ok(Fixture::from_backend(backend).with_guard(dir))
});
