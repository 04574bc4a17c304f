//! What a `kv_update` merge function sees and returns (contract U1).

use std::time::Duration;

use crate::row::Row;
use crate::tag::Tag;
use crate::value::Value;

/// One row as a merge function sees it: the current values of the fields
/// the update asked for (those the row holds), and its whole tag.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CurrentRow {
    /// The row's key.
    pub key: String,
    /// Whether the row exists. A missing row has no cells and an empty tag
    /// (contract U3); if the merge function writes, the update creates it.
    pub exists: bool,
    /// The current values of the asked-for fields the row holds.
    pub cells: Row,
    /// The row's whole tag.
    pub tag: Tag,
}

impl CurrentRow {
    /// The current value of `field`, if the row holds it.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.cells.get(field)
    }
}

/// What a merge function writes to a row: cells to set and tag entries to
/// merge, as one `kv_put` of the row would, atomically with the read it
/// was computed from.
///
/// ```
/// # use tq_core::{RowChange, Tensor, tag};
/// let change = RowChange::new()
///     .with("reward", Tensor::from_vec(vec![1.5f32], [1])?)
///     .with_tag(tag! {"status" => "scored"});
/// assert!(!change.is_empty());
/// # Ok::<(), tq_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RowChange {
    /// Cells to set, replacing earlier values.
    pub cells: Row,
    /// Tag entries to shallow-merge into the row's tag.
    pub tag: Option<Tag>,
}

impl RowChange {
    /// A change that writes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `field` to `value`.
    pub fn with(mut self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.cells.insert(field, value);
        self
    }

    /// Merges `tag`'s entries into the row's tag.
    pub fn with_tag(mut self, tag: Tag) -> Self {
        self.tag = Some(tag);
        self
    }

    /// Whether the change writes nothing (no cell, no tag): the update then
    /// leaves the row alone, as if the merge function had returned `None`.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty() && self.tag.is_none()
    }
}

/// A merge function behind a reference, as [`crate::KvApi`] (which must
/// stay object-safe) takes it; the inherent methods of
/// [`crate::KvStore`] take any `Fn` by value.
pub type MergeFn<'a> = &'a (dyn Fn(&CurrentRow) -> Option<RowChange> + Send + Sync);

/// How hard `kv_update` tries before it gives up on a row that keeps
/// changing under it (contract U4).
///
/// Between rounds it sleeps a random time up to a bound that doubles from
/// `initial_backoff` to `max_backoff`, so that updaters racing on one row
/// spread out instead of colliding again in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpdatePolicy {
    /// Read-merge-write rounds per call, the first included; at least 1.
    pub max_attempts: u32,
    /// The backoff bound after the first conflict.
    pub initial_backoff: Duration,
    /// The largest backoff bound.
    pub max_backoff: Duration,
}

impl Default for UpdatePolicy {
    /// 64 attempts, backoff bound from 200 us doubling to 20 ms: 64 tasks
    /// incrementing one counter on this 2-core machine all land.
    fn default() -> Self {
        UpdatePolicy {
            max_attempts: 64,
            initial_backoff: Duration::from_micros(200),
            max_backoff: Duration::from_millis(20),
        }
    }
}

impl UpdatePolicy {
    /// Sets [`UpdatePolicy::max_attempts`] (0 is taken as 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the backoff bounds.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }
}
