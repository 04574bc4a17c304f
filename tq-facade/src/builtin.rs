//! The built-in backends, each behind its cargo feature.

use crate::registry::BackendRegistry;

pub(crate) fn register_builtins(registry: &mut BackendRegistry) {
    #[cfg(feature = "memory")]
    registry.register_typed(
        "memory",
        |config: tq_backend_memory::MemoryConfig| async move {
            Ok(tq_backend_memory::MemoryBackend::with_config(config))
        },
    );
    #[cfg(feature = "rocksdb")]
    registry.register_typed("rocksdb", |config: tq_backend_rocksdb::RocksDbConfig| {
        tq_backend_rocksdb::RocksDbBackend::open(config)
    });
    #[cfg(feature = "redis")]
    registry.register_typed("redis", |config: tq_backend_redis::RedisConfig| {
        tq_backend_redis::RedisBackend::open(config)
    });
    // Without any feature the registry is empty; say so in the unused case.
    let _ = registry;
}
