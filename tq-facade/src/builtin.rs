//! The built-in backends, each behind its cargo feature.

use crate::registry::BackendRegistry;

/// The in-memory backend's name.
#[cfg(feature = "memory")]
pub(crate) const MEMORY: &str = "memory";
/// The RocksDB backend's name.
#[cfg(feature = "rocksdb")]
pub(crate) const ROCKSDB: &str = "rocksdb";
/// The Redis backend's name.
#[cfg(feature = "redis")]
pub(crate) const REDIS: &str = "redis";

pub(crate) fn register_builtins(registry: &mut BackendRegistry) {
    #[cfg(feature = "memory")]
    registry.register_typed(
        MEMORY,
        |config: tq_backend_memory::MemoryConfig| async move {
            Ok(tq_backend_memory::MemoryBackend::with_config(config))
        },
    );
    #[cfg(feature = "rocksdb")]
    registry.register_typed(ROCKSDB, |config: tq_backend_rocksdb::RocksDbConfig| {
        tq_backend_rocksdb::RocksDbBackend::open(config)
    });
    #[cfg(feature = "redis")]
    registry.register_typed(REDIS, |config: tq_backend_redis::RedisConfig| {
        tq_backend_redis::RedisBackend::open(config)
    });
    // Without any feature the registry is empty; say so in the unused case.
    let _ = registry;
}
