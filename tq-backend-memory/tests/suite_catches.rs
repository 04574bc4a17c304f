//! The suite can fail: each case below runs one conformance case against a
//! memory backend broken on purpose (a false capability claim, a blocking
//! call, a tag that outlives its row, ...) and expects the case to fail.
//! Without these, a case that could never fail would pass unnoticed.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tq_backend_memory::{MemoryBackend, MemoryConfig};
use tq_core::conformance::{Fixture, cases, run};
use tq_core::{
    Bytes, Capabilities, CellWrite, Cells, ConditionalBackend, Listing, PutIfOutcome, Result,
    RowState, RowVersion, RowWrite, StorageBackend, Value, VersionedRow, WatchBackend, WatchStream,
    async_trait,
};

/// What to break.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// Copies tensor bytes on put, yet claims `zero_copy_put`.
    CopiesButClaimsZeroCopy,
    /// Sleeps on the executor thread in every put.
    BlocksTheExecutor,
    /// Claims `persistent`, but a reopen finds an empty store.
    ForgetsOnReopen,
    /// Claims `atomic_batch`, but writes a batch one row at a time.
    WritesRowByRow,
    /// Claims a 1 KiB `max_value_bytes` that it does not have.
    ClaimsAValueLimit,
    /// A field-level clear of a missing row creates it.
    FieldClearCreatesRows,
    /// A field-level clear removes the whole row.
    FieldClearDropsTheRow,
    /// A field-level clear removes one field at a time.
    FieldClearIsNotAtomic,
    /// Offers conditional writes, but writes without checking the version.
    PutIfIgnoresTheVersion,
    /// A watch that subscribes only when first read, not when it returns.
    WatchSubscribesLate,
    /// A watch that silently drops every seventh event.
    WatchDropsEvents,
    /// A watch that swaps each pair of events.
    WatchReordersEvents,
}

impl Fault {
    fn watches(self) -> bool {
        matches!(
            self,
            Fault::WatchSubscribesLate | Fault::WatchDropsEvents | Fault::WatchReordersEvents
        )
    }
}

/// A memory backend with one fault.
#[derive(Debug)]
struct Broken {
    inner: Arc<MemoryBackend>,
    fault: Fault,
}

#[async_trait]
impl StorageBackend for Broken {
    fn name(&self) -> &str {
        "broken"
    }

    fn capabilities(&self) -> Capabilities {
        let caps = self.inner.capabilities();
        match self.fault {
            Fault::ForgetsOnReopen => caps.with_persistent(true),
            Fault::ClaimsAValueLimit => caps.with_max_value_bytes(Some(1024)),
            _ => caps,
        }
    }

    async fn put(&self, partition: &str, mut rows: Vec<RowWrite>) -> Result<Vec<RowState>> {
        match self.fault {
            Fault::CopiesButClaimsZeroCopy => {
                for (_, value) in rows.iter_mut().flat_map(|r| r.cells.iter_mut()) {
                    if let CellWrite::Set(Value::Tensor(t)) = value {
                        let copy = Bytes::copy_from_slice(t.data());
                        *t = tq_core::Tensor::new(t.dtype(), t.shape().to_vec(), copy)?;
                    }
                }
            }
            Fault::BlocksTheExecutor => std::thread::sleep(Duration::from_millis(800)),
            Fault::WritesRowByRow => {
                let mut states = Vec::new();
                for row in rows {
                    states.extend(self.inner.put(partition, vec![row]).await?);
                    // Long enough between rows that a reader surely sees a
                    // partial batch, however the machine is loaded.
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                return Ok(states);
            }
            Fault::FieldClearCreatesRows => {
                for row in &mut rows {
                    row.tag.get_or_insert_with(Default::default);
                }
            }
            Fault::FieldClearDropsTheRow if rows.iter().all(|r| !r.creates()) => {
                let keys: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
                let existing = self.inner.get(partition, &keys, Some(&[])).await?;
                self.inner.clear(partition, &keys).await?;
                return Ok(existing
                    .iter()
                    .map(|row| match row {
                        Some(_) => RowState::new(Default::default(), Vec::new(), true),
                        None => RowState::absent(),
                    })
                    .collect());
            }
            Fault::FieldClearIsNotAtomic if rows.iter().all(|r| !r.creates()) => {
                let mut states = Vec::new();
                for row in rows {
                    let mut state = None;
                    for cell in row.cells {
                        let mut one = RowWrite::new(row.key.clone());
                        one.cells.push(cell);
                        state = self.inner.put(partition, vec![one]).await?.pop();
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    states.push(state.unwrap_or_default());
                }
                return Ok(states);
            }
            _ => {}
        }
        self.inner.put(partition, rows).await
    }

    async fn get(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<Option<Cells>>> {
        self.inner.get(partition, keys, fields).await
    }

    async fn list(&self, partition: Option<&str>) -> Result<Listing> {
        self.inner.list(partition).await
    }

    async fn clear(&self, partition: &str, keys: &[String]) -> Result<usize> {
        self.inner.clear(partition, keys).await
    }

    fn as_conditional(&self) -> Option<&dyn ConditionalBackend> {
        (self.fault == Fault::PutIfIgnoresTheVersion).then_some(self as _)
    }

    fn as_watch(&self) -> Option<&dyn WatchBackend> {
        self.fault.watches().then_some(self as _)
    }
}

#[async_trait]
impl WatchBackend for Broken {
    async fn watch(&self, partition: &str) -> Result<WatchStream> {
        match self.fault {
            Fault::WatchSubscribesLate => {
                let backend = self.inner.clone();
                let partition = partition.to_owned();
                Ok(futures::stream::once(async move {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    backend.watch(&partition).await
                })
                .map(|watched| watched.unwrap_or_else(|e| futures::stream::iter([Err(e)]).boxed()))
                .flatten()
                .boxed())
            }
            Fault::WatchDropsEvents => Ok(self
                .inner
                .watch(partition)
                .await?
                .enumerate()
                .filter(|(i, _)| std::future::ready(i % 7 != 6))
                .map(|(_, item)| item)
                .boxed()),
            _ => Ok(self
                .inner
                .watch(partition)
                .await?
                .chunks(2)
                .flat_map(|pair| futures::stream::iter(pair.into_iter().rev()))
                .boxed()),
        }
    }
}

#[async_trait]
impl ConditionalBackend for Broken {
    async fn get_versioned(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<VersionedRow>> {
        self.inner.get_versioned(partition, keys, fields).await
    }

    async fn put_if(
        &self,
        partition: &str,
        rows: Vec<(RowWrite, RowVersion)>,
    ) -> Result<Vec<PutIfOutcome>> {
        // Waits a little, so that racing updaters overlap, then writes
        // whatever the version is now.
        tokio::time::sleep(Duration::from_millis(1)).await;
        let rows = rows.into_iter().map(|(w, _)| w).collect();
        let states = self.inner.put(partition, rows).await?;
        Ok(states.into_iter().map(PutIfOutcome::Written).collect())
    }
}

fn broken(fault: Fault) -> Fixture {
    let backend = Broken {
        inner: Arc::new(MemoryBackend::new()),
        fault,
    };
    Fixture::from_backend(backend)
        .without_stored_bytes()
        .with_reopen(move || async move { Ok(broken(fault)) })
        .with_capacity(move |_limit| async move { Ok(broken(fault)) })
}

/// Runs `case` against a fixture and says whether it failed.
fn fails<C, Fut>(name: &str, fixture: fn() -> Fixture, case: C) -> bool
where
    C: FnOnce(Fixture) -> Fut + std::panic::UnwindSafe,
    Fut: std::future::Future<Output = ()>,
{
    std::panic::catch_unwind(|| run(name, move || async move { Ok(fixture()) }, case)).is_err()
}

#[test]
fn a_false_zero_copy_claim_is_caught() {
    assert!(fails(
        "zero copy",
        || broken(Fault::CopiesButClaimsZeroCopy),
        |f| async move { cases::cap_zero_copy_claim_keeps_the_callers_buffer(&f).await }
    ));
}

#[test]
fn a_backend_that_blocks_the_executor_is_caught() {
    assert!(fails(
        "blocking",
        || broken(Fault::BlocksTheExecutor),
        |f| async move { cases::b9_no_call_blocks_the_executor(&f).await }
    ));
}

#[test]
fn a_false_persistence_claim_is_caught() {
    assert!(fails(
        "persistent",
        || broken(Fault::ForgetsOnReopen),
        |mut f| async move { cases::cap_persistent_claim_survives_reopen(&mut f).await }
    ));
}

#[test]
fn a_false_atomic_batch_claim_is_caught() {
    assert!(fails(
        "atomic",
        || broken(Fault::WritesRowByRow),
        |f| async move { cases::cap_atomic_batch_claim_hides_partial_batches(&f).await }
    ));
}

#[test]
fn the_engine_enforces_a_claimed_value_limit() {
    // The engine enforces the claim, so the case passes; a backend limit
    // nobody checked would let the 1 KiB + 1 value through.
    assert!(!fails(
        "value limit",
        || broken(Fault::ClaimsAValueLimit),
        |f| async move { cases::cap_max_value_bytes_claim_is_enforced(&f).await }
    ));
}

#[test]
fn a_capacity_hook_without_a_limit_is_caught() {
    assert!(fails(
        "capacity",
        || broken(Fault::WritesRowByRow),
        |f| async move { cases::cap_limit_is_exact_and_a_put_past_it_writes_nothing(&f).await }
    ));
}

#[test]
fn a_fixture_without_backend_calls_fails_b1_loudly() {
    assert!(fails(
        "b1",
        || Fixture::new(tq_core::KvStore::new(Arc::new(MemoryBackend::new()))),
        |f| async move { cases::b1_one_backend_call_per_kv_operation(&f).await }
    ));
    assert!(!fails(
        "b1 counted",
        || Fixture::from_backend(MemoryBackend::with_config(MemoryConfig::default())),
        |f| async move { cases::b1_one_backend_call_per_kv_operation(&f).await }
    ));
}

#[test]
fn a_fixture_without_a_corruption_hook_fails_e3_loudly() {
    assert!(fails(
        "e3",
        || Fixture::from_backend(MemoryBackend::new()),
        |mut f| async move { cases::e3_corrupted_cells_are_contained_to_their_row(&mut f).await }
    ));
}

#[test]
fn a_field_clear_that_creates_missing_rows_is_caught() {
    assert!(fails(
        "field clear creates",
        || broken(Fault::FieldClearCreatesRows),
        |f| async move { cases::c5_clearing_fields_ignores_what_is_not_there(&f).await }
    ));
}

#[test]
fn a_field_clear_that_drops_the_row_is_caught() {
    assert!(fails(
        "field clear drops the row",
        || broken(Fault::FieldClearDropsTheRow),
        |f| async move { cases::c6_a_row_without_fields_still_exists(&f).await }
    ));
    assert!(fails(
        "field clear drops the row",
        || broken(Fault::FieldClearDropsTheRow),
        |f| async move { cases::c5_clearing_fields_keeps_the_row_its_tag_and_its_place(&f).await }
    ));
}

#[test]
fn a_field_clear_that_is_not_atomic_is_caught() {
    assert!(fails(
        "field clear not atomic",
        || broken(Fault::FieldClearIsNotAtomic),
        |f| async move { cases::c5_a_field_clear_is_atomic_per_row(&f).await }
    ));
}

#[test]
fn a_conditional_write_that_ignores_the_version_is_caught() {
    assert!(fails(
        "put_if ignores the version",
        || broken(Fault::PutIfIgnoresTheVersion),
        |f| async move { cases::u2_concurrent_updates_lose_nothing(&f).await }
    ));
    assert!(fails(
        "put_if ignores the version",
        || broken(Fault::PutIfIgnoresTheVersion),
        |f| async move { cases::u3_an_update_racing_a_clear_never_mixes(&f).await }
    ));
}

#[test]
fn a_backend_without_conditional_writes_passes_the_update_cases_as_unsupported() {
    // `Broken` with any other fault offers no conditional writes: the cases
    // check that kv_update is Unsupported and writes nothing, and pass.
    assert!(!fails(
        "no conditional writes",
        || broken(Fault::ClaimsAValueLimit),
        |f| async move { cases::u2_concurrent_updates_lose_nothing(&f).await }
    ));
}

#[test]
fn a_watch_that_subscribes_late_is_caught() {
    assert!(fails(
        "watch subscribes late",
        || broken(Fault::WatchSubscribesLate),
        |f| async move { cases::w1_put_racing_the_wait_set_up_is_never_missed(&f).await }
    ));
}

#[test]
fn a_watch_that_drops_events_is_caught() {
    assert!(fails(
        "watch drops events",
        || broken(Fault::WatchDropsEvents),
        |f| async move { cases::w3_slow_watcher_reads_lagged_not_a_silent_gap(&f).await }
    ));
}

#[test]
fn a_watch_that_reorders_events_is_caught() {
    assert!(fails(
        "watch reorders events",
        || broken(Fault::WatchReordersEvents),
        |f| async move { cases::w2_events_of_a_key_come_in_apply_order(&f).await }
    ));
    assert!(fails(
        "watch reorders events",
        || broken(Fault::WatchReordersEvents),
        |f| async move { cases::w2_watch_reports_puts_and_clears(&f).await }
    ));
}

#[test]
fn a_backend_without_a_watch_passes_the_watch_cases_by_polling() {
    // `Broken` with a fault that is not about watching pushes nothing: kv_wait
    // polls, kv_watch is Unsupported, and the cases pass.
    assert!(!fails(
        "no watch",
        || broken(Fault::ClaimsAValueLimit),
        |f| async move {
            cases::w1_put_racing_the_wait_set_up_is_never_missed(&f).await;
            cases::w2_events_of_a_key_come_in_apply_order(&f).await;
        }
    ));
}
