//! The conformance suite against the memory backend, with and without a
//! capacity limit (the limit path must not change any rule).

use tq_backend_memory::{MemoryBackend, MemoryConfig};
use tq_core::conformance::Fixture;
use tq_core::{Capabilities, Notifications};

/// A memory store holding at most `capacity` payload bytes, if given.
fn store(capacity: Option<u64>) -> Fixture {
    let config = MemoryConfig::new().with_capacity_bytes(capacity);
    Fixture::from_backend(MemoryBackend::with_config(config))
        .claims(
            Capabilities::new()
                .with_atomic_batch(true)
                .with_zero_copy_put(true)
                .with_conditional_write(true)
                .with_notifications(Notifications::InProcess),
        )
        // Values stay as given; nothing is ever decoded.
        .without_stored_bytes()
        .with_capacity(|limit| async move { Ok(store(Some(limit))) })
}

tq_core::conformance_tests!(|| async { Ok(store(None)) });

mod with_capacity {
    use super::*;

    tq_core::conformance_tests!(|| async { Ok(store(Some(1 << 30))) });
}
