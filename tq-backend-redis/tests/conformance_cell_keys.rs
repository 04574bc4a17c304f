//! tq-core's conformance suite with `cell_key_bytes = 1`: every row with a
//! cell is written by a transaction and every cell (of a non-conditional
//! write) lives under a Redis key of its own, so each rule the suite checks
//! also holds for that half of the layout (the default keeps the suite's
//! small cells in the row's hash). Standalone; the cluster run is
//! `conformance_cell_keys_cluster.rs`.

mod support;

tq_core::conformance_tests!(|| async {
    support::fixture(support::standalone_config()?.with_cell_key_bytes(1)).await
});
