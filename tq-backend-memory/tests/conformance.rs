//! The conformance suite against the memory backend, with and without a
//! capacity limit (the limit path must not change any rule).

use tq_backend_memory::{MemoryBackend, MemoryConfig};
use tq_core::conformance::Fixture;

tq_core::conformance_tests!(|| async { Ok(Fixture::from_backend(MemoryBackend::new())) });

mod with_capacity {
    use super::*;

    tq_core::conformance_tests!(|| async {
        let config = MemoryConfig {
            capacity_bytes: Some(1 << 30),
        };
        Ok(Fixture::from_backend(MemoryBackend::with_config(config)))
    });
}
