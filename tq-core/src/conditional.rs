//! The optional conditional-write ability of a backend: versioned reads and
//! writes that land only if a row is unchanged (what
//! [`KvStore::kv_update`](crate::KvStore::kv_update) runs its
//! read-merge-write loop on, contract U1-U4).
//!
//! A closure cannot run inside Redis or another process, so the engine does
//! the read, the merge and the retries, and the backend only promises a
//! compare-and-set per row, as object_store's `PutMode::Update` does with
//! an `ETag`. The ability is a trait of its own, found through
//! [`StorageBackend::as_conditional`](crate::StorageBackend::as_conditional)
//! (which returns `None` unless a backend overrides it), rather than
//! defaulted methods a backend could inherit without noticing.

use async_trait::async_trait;

use crate::error::Result;
use crate::row_write::{Cells, RowState, RowWrite};
use crate::tag::Tag;

/// A row's version: changes with every write of the row, and never repeats
/// for a key, even after the row is cleared and put again (so a write
/// conditioned on a version read before a clear never lands after it).
/// The default is [`RowVersion::ABSENT`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowVersion(u128);

impl RowVersion {
    /// The version of a row that does not exist.
    pub const ABSENT: RowVersion = RowVersion(0);

    /// A version from the backend's own counter; `0` is
    /// [`RowVersion::ABSENT`], never an existing row's.
    pub const fn new(version: u128) -> Self {
        RowVersion(version)
    }

    /// The number inside.
    pub const fn get(self) -> u128 {
        self.0
    }

    /// Whether this is the version of a missing row.
    pub const fn is_absent(self) -> bool {
        self.0 == 0
    }
}

/// A row read with its version.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct VersionedRow {
    /// The version; [`RowVersion::ABSENT`] for a missing row.
    pub version: RowVersion,
    /// The cells found (of the requested fields the row has); empty for a
    /// missing row.
    pub cells: Cells,
    /// The row's full tag; `{}` for a missing row.
    pub tag: Tag,
}

impl VersionedRow {
    /// An existing row.
    pub fn new(version: RowVersion, cells: Cells, tag: Tag) -> Self {
        VersionedRow {
            version,
            cells,
            tag,
        }
    }

    /// A missing row.
    pub fn absent() -> Self {
        VersionedRow::default()
    }
}

/// What a conditional write did to one row.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PutIfOutcome {
    /// The row was at the expected version and the write landed.
    Written(RowState),
    /// The row had changed: nothing of this row was written.
    Conflict,
}

/// Versioned reads and conditional writes: the ability `kv_update` needs.
///
/// # Behavior
///
/// - **V1.** [`get_versioned`](Self::get_versioned) returns, aligned with
///   `keys`, each row's version, cells (as
///   [`StorageBackend::get`](crate::StorageBackend::get)) and tag,
///   read at one instant per row.
/// - **V2.** [`put_if`](Self::put_if) applies each row write exactly as
///   [`StorageBackend::put`](crate::StorageBackend::put) would (B2-B4) if, at the moment it is applied,
///   the row's version equals the expected one ([`RowVersion::ABSENT`]:
///   the row must not exist); otherwise that row gets
///   [`PutIfOutcome::Conflict`] and nothing of it is written. Rows are
///   independent: some may land while others conflict.
/// - **V3.** Every write of a row (put, conditional put, field clear) gives
///   it a new version; a row cleared and put again never gets back a
///   version it had.
#[async_trait]
pub trait ConditionalBackend: Send + Sync {
    /// Reads `keys` (distinct) with their versions (V1).
    async fn get_versioned(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<VersionedRow>>;

    /// Writes each row only if it is still at its expected version (V2).
    async fn put_if(
        &self,
        partition: &str,
        rows: Vec<(RowWrite, RowVersion)>,
    ) -> Result<Vec<PutIfOutcome>>;
}
