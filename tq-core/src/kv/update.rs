//! `kv_update` and `kv_batch_update` (contract U1-U4): the read, the merge
//! and the retries run here, over the backend's conditional writes.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

use super::get::checked_fields;
use super::put::{check_put, check_value_sizes, meta_from_states};
use super::{KvStore, annotate, check_count, checked_keys, nesting};
use crate::conditional::{PutIfOutcome, RowVersion};
use crate::error::{Error, ErrorKind, Result};
use crate::fields::FieldNames;
use crate::meta::KvBatchMeta;
use crate::names::list_names;
use crate::row_write::{RowState, RowWrite};
use crate::update::{CurrentRow, MergeFn, RowChange, UpdatePolicy};

impl KvStore {
    /// Atomically reads, merges and writes one row ([contract U1-U4](crate::contract#update-atomic-read-modify-write)); see
    /// [`kv_batch_update`](Self::kv_batch_update).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tq_core::{KvStore, RowChange, Value, tag};
    /// # async fn demo(kv: KvStore) -> tq_core::Result<()> {
    /// // Count how many scorers have seen the sample, losing no increment.
    /// kv.kv_update("sample-0", "train", None, |row| {
    ///     let seen = row.tag.get("seen").and_then(|v| v.as_i64()).unwrap_or(0);
    ///     Some(RowChange::new().with_tag(tag! {"seen" => seen + 1}))
    /// })
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub async fn kv_update<F>(
        &self,
        key: &str,
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
        merge_fn: F,
    ) -> Result<KvBatchMeta>
    where
        F: Fn(&CurrentRow) -> Option<RowChange> + Send + Sync,
    {
        const OP: &str = "kv_update";
        self.update(OP, &[key], partition_id, fields, &merge_fn)
            .await
            .map_err(|e| annotate(e, OP, Some(partition_id)))
    }

    /// Atomically reads, merges and writes rows ([contract
    /// U1-U4](crate::contract#update-atomic-read-modify-write)).
    ///
    /// For each key, `merge_fn` gets the row's current values of `fields`
    /// (`None`: all its fields; a field the row lacks is simply absent) and
    /// its whole tag, as a [`CurrentRow`]; a missing row has no cells, an
    /// empty tag and `exists == false` (U3). It returns the cells to set and
    /// tag entries to merge ([`RowChange`]), or `None` to leave the row
    /// alone. The change lands only if the row did not change since it was
    /// read; otherwise the read and `merge_fn` run again for that row, so
    /// `merge_fn` must be a pure function of its input (it may run several
    /// times per row). Concurrent updates of a row, from tasks or from
    /// processes sharing the backend, lose none (U2).
    ///
    /// Returns the meta of the rows written, in call order (rows left alone
    /// are not in it). A change is checked as a `kv_put` of the row would be
    /// (`InvalidArgument`, `CapacityExceeded`). After
    /// [`UpdatePolicy::max_attempts`] rounds a row that still conflicts
    /// fails the call with [`ErrorKind::Conflict`] (temporary) naming its
    /// key, having written nothing of it (U4); that error, and any error
    /// after the first round, says in its `written` context which other rows
    /// of the call were written.
    ///
    /// Needs a backend with conditional writes
    /// ([`Capabilities::conditional_write`](crate::Capabilities)); on any
    /// other it is `Unsupported`, writing nothing. Keys must be distinct and
    /// the key list non-empty (`InvalidArgument`).
    pub async fn kv_batch_update<K, F>(
        &self,
        keys: &[K],
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
        merge_fn: F,
    ) -> Result<KvBatchMeta>
    where
        K: AsRef<str> + Sync,
        F: Fn(&CurrentRow) -> Option<RowChange> + Send + Sync,
    {
        const OP: &str = "kv_batch_update";
        self.update(OP, keys, partition_id, fields, &merge_fn)
            .await
            .map_err(|e| annotate(e, OP, Some(partition_id)))
    }

    /// How `kv_update` retries (contract U4).
    pub fn update_policy(&self) -> UpdatePolicy {
        self.update_policy
    }

    /// This store with another [`UpdatePolicy`] (clones share the backend).
    pub fn with_update_policy(mut self, policy: UpdatePolicy) -> Self {
        self.update_policy = policy;
        self
    }

    async fn update<K: AsRef<str> + Sync>(
        &self,
        op: &'static str,
        keys: &[K],
        partition: &str,
        fields: Option<&dyn FieldNames>,
        merge_fn: MergeFn<'_>,
    ) -> Result<KvBatchMeta> {
        let keys = checked_keys(keys, partition, true)?;
        if keys.is_empty() {
            return Err(Error::invalid_argument("the key list is empty")
                .with_context("partition", partition));
        }
        let fields = fields
            .map(|f| checked_fields(&f.field_names(), partition))
            .transpose()?;
        let Some(backend) = self.backend.as_conditional() else {
            return Err(Error::unsupported(format!(
                "backend {} does not offer conditional writes (ConditionalBackend), which \
                 {op} needs; nothing was written",
                self.backend.name()
            ))
            .with_context("partition", partition));
        };
        let limit = self.capabilities().max_value_bytes;
        let policy = self.update_policy;
        let mut written: Vec<Option<RowState>> = vec![None; keys.len()];
        let mut pending: Vec<usize> = (0..keys.len()).collect();
        for attempt in 0..policy.max_attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(backoff(&policy, attempt)).await;
            }
            let asked: Vec<String> = pending.iter().map(|&i| keys[i].clone()).collect();
            let rows = backend
                .get_versioned(partition, &asked, fields.as_deref())
                .await
                .map_err(|e| with_written(e, &keys, &written))?;
            check_count(&*self.backend, "versioned rows", rows.len(), asked.len())
                .map_err(|e| with_written(e, &keys, &written))?;
            let mut writes: Vec<(RowWrite, RowVersion)> = Vec::new();
            let mut targets: Vec<usize> = Vec::new();
            for (&i, row) in pending.iter().zip(rows) {
                let current = CurrentRow {
                    key: keys[i].clone(),
                    exists: !row.version.is_absent(),
                    cells: row.cells.into_iter().collect(),
                    tag: row.tag,
                };
                let Some(change) = merge_fn(&current).filter(|c| !c.is_empty()) else {
                    continue;
                };
                let write = checked_change(&keys[i], partition, change)
                    .map_err(|e| with_written(e, &keys, &written))?;
                writes.push((write, row.version));
                targets.push(i);
            }
            if let Some(limit) = limit {
                check_value_sizes(writes.iter().map(|(w, _)| w), limit, self.backend.name())
                    .map_err(|e| {
                        with_written(e.with_context("partition", partition), &keys, &written)
                    })?;
            }
            if writes.is_empty() {
                pending.clear();
                break;
            }
            let outcomes = backend
                .put_if(partition, writes)
                .await
                .map_err(|e| with_written(e, &keys, &written))?;
            check_count(
                &*self.backend,
                "write outcomes",
                outcomes.len(),
                targets.len(),
            )
            .map_err(|e| with_written(e, &keys, &written))?;
            pending.clear();
            for (i, outcome) in targets.into_iter().zip(outcomes) {
                match outcome {
                    PutIfOutcome::Written(state) => written[i] = Some(state),
                    _ => pending.push(i),
                }
            }
            if pending.is_empty() {
                break;
            }
        }
        if !pending.is_empty() {
            let losers: Vec<&str> = pending.iter().map(|&i| keys[i].as_str()).collect();
            let err = Error::new(
                ErrorKind::Conflict,
                format!(
                    "{} row(s) kept changing during {} read-merge-write rounds and were not \
                     written: {}",
                    losers.len(),
                    policy.max_attempts.max(1),
                    list_names(losers.iter().copied())
                ),
            )
            .with_context("partition", partition)
            .with_context("keys", list_names(losers));
            return Err(with_written(err, &keys, &written));
        }
        let (keys, states): (Vec<String>, Vec<RowState>) = keys
            .into_iter()
            .zip(written)
            .filter_map(|(k, s)| s.map(|s| (k, s)))
            .unzip();
        Ok(meta_from_states(keys, partition, states))
    }
}

/// A merge function's change, checked as a `kv_put` of the row would be.
fn checked_change(key: &str, partition: &str, change: RowChange) -> Result<RowWrite> {
    let fields = (!change.cells.is_empty()).then_some(change.cells);
    let (fields, tag) = nesting::check_row(key, fields, change.tag)
        .map_err(|e| e.with_context("partition", partition))?;
    check_put(key, partition, fields, tag)
}

/// Adds which rows of the call were written so far (contract U4).
fn with_written(e: Error, keys: &[String], written: &[Option<RowState>]) -> Error {
    let done: Vec<&str> = keys
        .iter()
        .zip(written)
        .filter(|(_, s)| s.is_some())
        .map(|(k, _)| k.as_str())
        .collect();
    if done.is_empty() {
        e.with_context("written", "none")
    } else {
        e.with_context("written", list_names(done))
    }
}

/// A random wait up to a bound that doubles with each round.
fn backoff(policy: &UpdatePolicy, attempt: u32) -> Duration {
    let bound = policy
        .initial_backoff
        .saturating_mul(1u32 << (attempt - 1).min(16))
        .min(policy.max_backoff);
    // A fresh RandomState is seeded randomly: a jitter without a crate.
    let jitter = RandomState::new().hash_one(attempt) % 1024;
    bound.mul_f64(jitter as f64 / 1024.0)
}
