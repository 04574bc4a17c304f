//! The conformance suite: the contract (`docs/CONTRACT.md`) as tests, for any
//! backend.
//!
//! Every backend, in this workspace or in a third party's crate, runs the
//! same suite with a few lines in its own tests. Turn on the `conformance`
//! feature of `tq-core` in `[dev-dependencies]`, then:
//!
//! ```text
//! use tq_core::conformance::Fixture;
//!
//! tq_core::conformance_tests!(|| async {
//!     // A fresh, empty store per case; keep temp dirs or servers alive
//!     // with `Fixture::with_guard`.
//!     Ok(Fixture::from_backend(my_crate::MyBackend::new()))
//! });
//! ```
//!
//! (`tq-facade`'s `custom_backend` example compiles and runs exactly this
//! against a backend of its own, through the facade.)
//!
//! The macro expands to a module `conformance` with one `#[test]` per rule,
//! each running on its own two-worker Tokio runtime, so `cargo test
//! conformance` runs exactly the suite, each test's name starts with the rule
//! it checks (`conformance::g2_missing_key_is_not_found`), and one failure
//! hides no other. A factory that cannot build its store (a server that is
//! not installed, say) makes every case fail with the factory's message: the
//! suite never passes silently.
//!
//! # Rules, tests and hooks
//!
//! Every rule of the contract and the test that checks it are listed in
//! `docs/CONTRACT.md` of the tq-rs repository; each test's name starts with
//! its rule (`p3_`, `g5_`, `e3_`, `b9_`, `cap_` for capability claims).
//!
//! Some cases need the backend's help, given through [`Fixture`] hooks:
//! [`Fixture::with_corruptor`] (E3: overwrite a row's stored bytes),
//! [`Fixture::with_reopen`] (the `persistent` and `shared_across_processes`
//! claims), [`Fixture::with_capacity`] (a store with a byte limit). A
//! backend for which a hook makes no sense declares it
//! ([`Fixture::without_stored_bytes`], [`Fixture::without_capacity_limit`]);
//! a case whose hook is neither given nor declared away fails and says so.
//! [`Fixture::from_backend`] and [`Fixture::wrapping`] slip a call-counting
//! layer ([`Instrumented`]) under the engine for B1.

mod cases_bad_input;
mod cases_claims;
mod cases_clear;
mod cases_clear_fields;
mod cases_concurrency;
mod cases_get;
mod cases_list;
mod cases_meta;
mod cases_names;
mod cases_put;
mod cases_update;
mod cases_watch;
mod fixture;
mod instrument;
mod support;
mod watchdog;

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use futures::FutureExt;

use crate::error::Result;
use crate::kv::KvApi;

pub use fixture::{Corruption, Fixture};
pub use instrument::{BackendCalls, Instrumented};

/// The store a case runs against.
pub type Kv = Arc<dyn KvApi>;

/// The cases, one public async function per test; the macro calls them.
pub mod cases {
    pub use super::cases_bad_input::*;
    pub use super::cases_claims::*;
    pub use super::cases_clear::*;
    pub use super::cases_clear_fields::*;
    pub use super::cases_concurrency::*;
    pub use super::cases_get::*;
    pub use super::cases_list::*;
    pub use super::cases_meta::*;
    pub use super::cases_names::*;
    pub use super::cases_put::*;
    pub use super::cases_update::*;
    pub use super::cases_watch::*;
}

/// Builds a fresh fixture for each case.
///
/// Implemented for every `Fn() -> impl Future<Output = Result<Fixture>>`, so
/// a closure is the usual factory.
#[async_trait]
pub trait Factory: Send + Sync {
    /// A fresh, empty store. An error fails the case with its message: say
    /// there how to install or start what is missing.
    async fn build(&self) -> Result<Fixture>;
}

#[async_trait]
impl<F, Fut> Factory for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<Fixture>> + Send,
{
    async fn build(&self) -> Result<Fixture> {
        self().await
    }
}

/// Runs one case on a fresh two-worker runtime; what the macro's tests call.
///
/// Panics (fails the test) when the factory fails or the case's checks fail;
/// the panic message starts with the case's name, whose prefix is the rule
/// it checks (`conformance g2_missing_key_is_not_found: ...`).
pub fn run<F, C, Fut>(name: &str, factory: F, case: C)
where
    F: Factory,
    C: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("conformance {name}: cannot build a Tokio runtime: {e}"));
    let outcome = runtime.block_on(async {
        let fixture = factory.build().await.unwrap_or_else(|e| {
            panic!("conformance {name}: the factory could not build a store: {e}")
        });
        // The case owns the fixture, so its guard goes before the runtime.
        std::panic::AssertUnwindSafe(case(fixture))
            .catch_unwind()
            .await
    });
    if let Err(panic) = outcome {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(a panic without a message)");
        panic!("conformance {name} failed: {message}");
    }
}

/// Expands to a module `conformance` with one `#[test]` per rule of the
/// suite, each building a fresh store with `$factory` (a [`Factory`], usually
/// a closure returning a future of `Result<Fixture>`).
///
/// The factory expression is evaluated inside the generated module, which
/// imports `super::*`, so it may name items of the surrounding test file.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::__conformance_cases! { ($factory)
            p1_put_with_neither_fields_nor_tag_is_invalid,
            p2_batch_put_empty_key_list_is_invalid,
            p2_batch_put_duplicate_keys_are_invalid,
            p2_batch_put_row_count_mismatch_is_invalid,
            p2_batch_put_tag_count_mismatch_is_invalid,
            p3_rejected_put_writes_nothing,
            p4_put_creates_and_replaces_keeping_other_fields,
            p5_tags_shallow_merge,
            p5_key_created_without_tag_has_empty_tag,
            p6_tag_only_put_creates_a_listed_row_without_fields,
            p7_meta_has_keys_full_tags_and_cumulative_fields,
            p8_dense_and_jagged_columns_split_into_rows,
            p8_bad_columns_are_invalid,
            p9_cells_of_a_row_become_visible_together,
            g1_rows_come_back_in_requested_order_with_repeats,
            g1_a_large_get_keeps_order_repeats_and_values,
            g2_missing_key_is_not_found,
            g2_unknown_partition_is_not_found,
            g2_many_missing_keys_are_named_briefly,
            g2_empty_key_list_is_invalid,
            g3_no_selection_returns_common_fields,
            g3_no_common_field_gives_rows_without_columns,
            g3_common_fields_do_not_depend_on_key_order,
            g4_selected_fields_come_back_in_order,
            g4_duplicate_selected_field_is_invalid,
            g4_selected_field_missing_from_a_key_is_not_found,
            g5_uniform_rows_give_a_dense_view,
            g5_jagged_rows_keep_their_shapes,
            g5_mixed_dtypes_in_a_field_are_invalid_data,
            g5_mixed_dtypes_of_one_size_are_invalid_data,
            g5_jagged_rows_of_equal_size_keep_their_shapes,
            g5_rows_of_any_rank_pad_and_read_back,
            cap_reported_capabilities_match_the_claims,
            g5_tensor_and_non_tensor_in_a_field_are_invalid_data,
            g5_every_dtype_round_trips,
            g6_non_tensor_values_round_trip,
            g7_get_by_meta_reads_meta_fields,
            g7_get_by_meta_rejects_select_fields_outside_meta,
            l1_list_partition_in_first_insertion_order,
            l1_list_unknown_partition_is_empty,
            l2_list_all_partitions_holding_keys,
            l3_reinserted_key_moves_to_the_end,
            c1_clear_removes_fields_and_tag_and_counts,
            c2_clearing_missing_keys_is_a_noop,
            c3_cleared_key_starts_from_an_empty_row,
            c3_cleared_tag_stays_gone_while_the_partition_holds_keys,
            c4_partitions_are_isolated,
            c5_clearing_fields_keeps_the_row_its_tag_and_its_place,
            c5_clearing_fields_ignores_what_is_not_there,
            c5_empty_or_repeated_field_list_is_invalid,
            c5_a_field_clear_is_atomic_per_row,
            c6_a_row_without_fields_still_exists,
            u1_update_writes_what_the_merge_function_returns,
            u1_bad_updates_are_invalid_and_write_nothing,
            u2_concurrent_updates_lose_nothing,
            u3_update_of_a_missing_row_creates_it,
            u3_an_update_racing_a_clear_never_mixes,
            u4_retries_are_bounded_and_the_error_says_what_was_written,
            w1_wait_returns_at_once_when_rows_are_there,
            w1_wait_is_woken_by_a_later_put,
            w1_wait_needs_every_listed_field,
            w1_timeout_names_missing_keys_and_fields,
            w1_put_racing_the_wait_set_up_is_never_missed,
            w1_cleared_rows_and_fields_are_waited_for_again,
            w1_bad_arguments_are_invalid,
            w2_watch_reports_puts_and_clears,
            w2_events_of_a_key_come_in_apply_order,
            w3_slow_watcher_reads_lagged_not_a_silent_gap,
            x1_concurrent_puts_of_different_fields_lose_nothing,
            x2_concurrent_tag_merges_lose_nothing,
            x3_concurrent_put_and_clear_never_mix_rows,
            n1_special_character_keys_are_distinct_rows,
            n1_partition_and_key_encoding_is_injective,
            n2_names_over_the_limits_are_invalid,
            n3_names_are_case_and_normalization_sensitive,
            s1_a_64_mib_tensor_round_trips,
            s2_ten_thousand_rows_in_one_partition,
            s3_a_hundred_partitions,
            e2_bad_tensor_cannot_be_constructed,
            e1_errors_name_the_operation_and_are_classified,
            e3_corrupted_cells_are_contained_to_their_row,
            e3_corrupted_tag_is_contained_to_its_row,
            e4_json_nested_to_the_limit_round_trips,
            e4_json_nested_past_the_limit_is_invalid,
            e4_hostile_inputs_never_break_the_store,
            b1_one_backend_call_per_kv_operation,
            b9_no_call_blocks_the_executor,
            cap_zero_copy_claim_keeps_the_callers_buffer,
            cap_atomic_batch_claim_hides_partial_batches,
            cap_persistent_claim_survives_reopen,
            cap_shared_claim_is_seen_by_another_handle,
            cap_max_value_bytes_claim_is_enforced,
            cap_limit_is_exact_and_a_put_past_it_writes_nothing,
            cap_limit_space_is_freed_by_clear,
            m1_meta_helpers_keep_keys_and_tags_aligned,
            m1_meta_helpers_reject_bad_input,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    (($factory:expr) $($case:ident),* $(,)?) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $case() {
                    $crate::conformance::run(stringify!($case), $factory, |mut fixture| async move {
                        $crate::conformance::cases::$case(&mut fixture).await
                    });
                }
            )*
        }
    };
}
