//! The storage backend trait: the small, batch-oriented surface a backend
//! author implements. The KV semantics (validation, dense-column splitting,
//! field intersection, result assembly, metadata) live in [`crate::KvStore`]
//! on top of it, once for every backend.

use std::fmt;

use async_trait::async_trait;

use crate::conditional::ConditionalBackend;
use crate::error::Result;
use crate::meta::Listing;
use crate::row_write::{Cells, RowState, RowWrite};
use crate::watch::{Notifications, WatchBackend};

/// What a backend promises beyond the Behavior list of [`StorageBackend`].
///
/// The facade and the conformance suite read it; a backend reports it from
/// [`StorageBackend::capabilities`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Data survives the process (and a reopen of the backend).
    pub persistent: bool,
    /// Several processes can use the same store at once.
    pub shared_across_processes: bool,
    /// A whole put or clear call is atomic: readers see all of it or none.
    pub atomic_batch: bool,
    /// Tensor bytes are stored as the caller's `Bytes`, not copied.
    pub zero_copy_put: bool,
    /// The largest single encoded value the backend accepts, if limited.
    pub max_value_bytes: Option<u64>,
    /// The backend offers conditional writes
    /// ([`StorageBackend::as_conditional`]), so `kv_update` works on it.
    /// The engine reports what the accessor returns, whatever the backend
    /// claims here, and the suite checks that the two agree.
    pub conditional_write: bool,
    /// How `kv_wait` and `kv_watch` learn of writes (contract W3): pushed
    /// in process, pushed across processes, or polled (the default). The
    /// engine reports [`Notifications::Polling`] whenever
    /// [`StorageBackend::as_watch`] is `None`, whatever the backend claims,
    /// and the suite checks that the two agree.
    pub notifications: Notifications,
}

impl Capabilities {
    /// No promises: not persistent, not shared, not atomic, no value limit.
    pub const fn new() -> Self {
        Capabilities {
            persistent: false,
            shared_across_processes: false,
            atomic_batch: false,
            zero_copy_put: false,
            max_value_bytes: None,
            conditional_write: false,
            notifications: Notifications::Polling {
                interval: Notifications::DEFAULT_POLL_INTERVAL,
            },
        }
    }

    /// Sets [`Capabilities::persistent`].
    pub const fn with_persistent(mut self, yes: bool) -> Self {
        self.persistent = yes;
        self
    }

    /// Sets [`Capabilities::shared_across_processes`].
    pub const fn with_shared_across_processes(mut self, yes: bool) -> Self {
        self.shared_across_processes = yes;
        self
    }

    /// Sets [`Capabilities::atomic_batch`].
    pub const fn with_atomic_batch(mut self, yes: bool) -> Self {
        self.atomic_batch = yes;
        self
    }

    /// Sets [`Capabilities::zero_copy_put`].
    pub const fn with_zero_copy_put(mut self, yes: bool) -> Self {
        self.zero_copy_put = yes;
        self
    }

    /// Sets [`Capabilities::conditional_write`].
    pub const fn with_conditional_write(mut self, yes: bool) -> Self {
        self.conditional_write = yes;
        self
    }

    /// Sets [`Capabilities::notifications`].
    pub const fn with_notifications(mut self, notifications: Notifications) -> Self {
        self.notifications = notifications;
        self
    }

    /// Sets [`Capabilities::max_value_bytes`].
    pub const fn with_max_value_bytes(mut self, limit: Option<u64>) -> Self {
        self.max_value_bytes = limit;
        self
    }
}

/// A place rows live. Implement this to add a backend; wrap it in
/// [`crate::KvStore`] (or open it through the facade) to get the kv_* API.
///
/// [`crate::KvStore`] validates every argument before it calls the backend:
/// names are non-empty and within the limits of [`crate::names`], keys of
/// one call are distinct, every row write has cells or a tag, and the field
/// names of one row write are distinct. A backend only
/// checks what only it can know (capacity, value size limits).
///
/// # Behavior
///
/// Each item is checked by the conformance suite ([`crate::conformance`]).
///
/// - **B1 (one call per operation).** Each method serves one kv_* call for
///   any number of rows; a network backend spends a bounded number of round
///   trips on it, never one per row.
/// - **B2 (put creates, replaces and removes).** [`put`](Self::put) applies
///   each [`RowWrite`]: [`CellWrite::Set`](crate::CellWrite::Set) replaces or adds a cell,
///   [`CellWrite::Remove`](crate::CellWrite::Remove) deletes one (a field the row lacks is ignored),
///   other cells stay, and `RowWrite::tag` is shallow-merged into the row's
///   tag (a new row starts from `{}`). A write that [creates](crate::RowWrite::creates)
///   makes a missing row (and its partition); one that only removes fields
///   leaves a missing row missing ([`RowState::absent`](crate::RowState::absent)). A row whose last
///   field was removed still exists, with its tag and its place in the
///   listing (C6). It returns each row's [`RowState`] after the put, in the
///   order of `rows`.
/// - **B3 (all or nothing on rejection).** A put or clear that returns an error
///   for a reason the backend checked up front (capacity, value too large)
///   wrote nothing.
/// - **B4 (row atomicity).** All cells a put sets or removes and all tag
///   entries it writes to one row become visible together, and concurrent puts to the same row lose no
///   cell and no tag entry (no read-modify-write race, also across processes
///   for shared backends).
/// - **B5 (get).** [`get`](Self::get) returns one entry per key, aligned
///   with `keys`: `None` for a row that does not exist (unknown partition
///   included), else its cells. With `fields = Some(list)` it returns the
///   cells of those fields the row has (skipping the ones it lacks); with
///   `None`, all its cells.
/// - **B6 (list).** [`list`](Self::list) returns, per partition with at least
///   one row, every key with its tag in first-insertion order; a key cleared
///   and put again is a new insertion. `Some(p)` restricts it to `p` (an
///   empty map if `p` has no rows).
/// - **B7 (clear).** [`clear`](Self::clear) removes every cell and the tag
///   of each present key, ignores absent keys, and returns how many rows it
///   removed. Nothing written before the clear is visible after it, and a
///   concurrent put never leaves a row mixing cells from before the clear
///   with part of the put.
/// - **B8 (isolation).** Partitions are independent even for equal key names;
///   the backend's encoding of partition, key and field into its own keys is
///   injective for any UTF-8 (including `_ : / { } \0`, spaces, emoji).
/// - **B9 (no blocking).** No method blocks an async executor thread:
///   blocking engines go through `spawn_blocking` or a pool of their own.
/// - **B10 (codec).** A backend that stores bytes uses [`crate::codec`] for
///   values; bytes that fail to decode are [`crate::ErrorKind::Corrupted`].
///
/// # Implementing
///
/// The trait uses [`async_trait`](macro@crate::async_trait) so that `Arc<dyn StorageBackend>` works:
/// annotate your impl with `#[async_trait::async_trait]` (re-exported as
/// [`crate::async_trait`]).
#[async_trait]
pub trait StorageBackend: Send + Sync + fmt::Debug + 'static {
    /// A short name for errors and logs, e.g. `"memory"`.
    fn name(&self) -> &str;

    /// What this backend promises.
    fn capabilities(&self) -> Capabilities;

    /// Writes `rows` into `partition` (Behavior B2-B4).
    async fn put(&self, partition: &str, rows: Vec<RowWrite>) -> Result<Vec<RowState>>;

    /// Reads `keys` of `partition` (Behavior B5). `keys` are distinct.
    async fn get(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<Option<Cells>>>;

    /// Lists keys and tags (Behavior B6).
    async fn list(&self, partition: Option<&str>) -> Result<Listing>;

    /// Removes rows (Behavior B7). `keys` are distinct.
    async fn clear(&self, partition: &str, keys: &[String]) -> Result<usize>;

    /// The conditional-write ability, if this backend has it. `None` unless
    /// overridden; a backend that implements [`ConditionalBackend`] returns
    /// `Some(self)` (and reports [`Capabilities::conditional_write`]).
    fn as_conditional(&self) -> Option<&dyn ConditionalBackend> {
        None
    }

    /// The watch ability, if this backend pushes events of its writes.
    /// `None` unless overridden; then `kv_wait` polls and `kv_watch` is
    /// `Unsupported`. A backend that implements [`WatchBackend`] returns
    /// `Some(self)` and reports [`Capabilities::notifications`] as
    /// [`Notifications::InProcess`] or [`Notifications::CrossProcess`]. A
    /// backend shared by processes must not offer an in-process broadcast
    /// here: a waiter would never hear of another process's writes.
    fn as_watch(&self) -> Option<&dyn WatchBackend> {
        None
    }
}
