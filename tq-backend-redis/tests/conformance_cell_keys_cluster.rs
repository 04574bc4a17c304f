//! tq-core's conformance suite on the 3-master cluster with
//! `cell_key_bytes = 1`: every cell of a non-conditional write lives under
//! a Redis key of its own (see `conformance_cell_keys.rs`).

mod support;

tq_core::conformance_tests!(|| async {
    support::fixture(support::cluster_config()?.with_cell_key_bytes(1)).await
});
