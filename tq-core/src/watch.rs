//! The optional watch ability of a backend: a stream of the writes applied
//! to a partition (contract W1-W3), which
//! [`KvStore::kv_watch`](crate::KvStore::kv_watch) hands to callers and
//! [`KvStore::kv_wait`](crate::KvStore::kv_wait) is woken by.
//!
//! Like [`ConditionalBackend`](crate::ConditionalBackend), it is a trait of
//! its own, found through
//! [`StorageBackend::as_watch`](crate::StorageBackend::as_watch) (`None`
//! unless a backend overrides it), so the required trait stays small and a
//! backend never inherits a watch it cannot honour. A backend without it
//! still gets `kv_wait`, by polling ([`Notifications::Polling`]); `kv_watch`
//! on it is `Unsupported`, because a stream rebuilt from polls would drop
//! writes that happen between two polls without saying so.
//!
//! A backend used by one process can get the ability from
//! [`WatchLayer`](crate::WatchLayer), or publish into a
//! [`WatchHub`](crate::WatchHub) itself while it holds its row locks.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use futures::Stream;

use crate::error::Result;
use crate::tag::Tag;

/// One item of a watch stream.
///
/// Events of one key arrive in the order the backend applied its writes
/// (W2). A write that both removes and sets cells of a row (as a
/// [`RowWrite`](crate::RowWrite) may) is reported as a
/// [`Clear`](WatchEvent::Clear) of the removed fields followed by a
/// [`Put`](WatchEvent::Put), which is the order the backend applies them in.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WatchEvent {
    /// A row was written: created, given cells, or given tag entries.
    Put {
        /// The row's key.
        key: String,
        /// The fields this write set (not every field the row holds); empty
        /// for a write of tag entries only.
        fields: Vec<String>,
        /// The row's whole tag after the write merged its entries.
        tag: Tag,
    },
    /// Rows or fields were removed.
    Clear {
        /// The row's key.
        key: String,
        /// `None`: the whole row was removed (C1). `Some(fields)`: the
        /// fields the clear named were removed (C5; those the row lacked
        /// are named too: backends do not all know which it held); the row
        /// stays. A clear of a missing row sends no event.
        fields: Option<Vec<String>>,
    },
    /// The watcher fell behind and `missed` events were dropped here (the
    /// buffer of the stream is bounded). The stream goes on with the events
    /// after the gap; a watcher that needs the state resyncs with `kv_list`
    /// (or `kv_batch_get`) and carries on.
    Lagged {
        /// How many events were lost.
        missed: u64,
    },
}

impl WatchEvent {
    /// The key the event is about; `None` for [`WatchEvent::Lagged`].
    pub fn key(&self) -> Option<&str> {
        match self {
            WatchEvent::Put { key, .. } | WatchEvent::Clear { key, .. } => Some(key),
            WatchEvent::Lagged { .. } => None,
        }
    }
}

/// A stream of watch events. It ends only when the backend is dropped; an
/// error item (a lost connection, say) is followed by the end of the stream:
/// watch again and resync with `kv_list`.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent>> + Send>>;

/// How a backend tells waiters and watchers about writes (contract W3),
/// reported in [`Capabilities::notifications`](crate::Capabilities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notifications {
    /// The backend pushes events ([`StorageBackend::as_watch`](crate::StorageBackend::as_watch)),
    /// to watchers in the process that wrote only.
    InProcess,
    /// The backend pushes events to watchers in every process that shares
    /// the store.
    CrossProcess,
    /// No push: `kv_wait` checks again every `interval`, and `kv_watch` is
    /// `Unsupported`.
    Polling {
        /// Time between two checks of a waiting `kv_wait`.
        interval: Duration,
    },
}

impl Notifications {
    /// The interval of the engine's polling fallback when a backend does not
    /// push: short enough that a waiting trainer loses little, long enough
    /// that a few waiters cost the backend little (one `get` per waiter per
    /// interval).
    pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(10);

    /// Whether the backend pushes events (`kv_watch` works).
    pub const fn pushes(self) -> bool {
        matches!(self, Notifications::InProcess | Notifications::CrossProcess)
    }
}

impl Default for Notifications {
    fn default() -> Self {
        Notifications::Polling {
            interval: Self::DEFAULT_POLL_INTERVAL,
        }
    }
}

/// Streams of the writes applied to a partition: the ability `kv_watch` and
/// a pushed `kv_wait` need.
///
/// # Behavior
///
/// - **N1 (subscribed on return).** When [`watch`](Self::watch) returns, the
///   subscription is in place: every write applied after that instant is in
///   the stream (unless a [`WatchEvent::Lagged`] item says it was lost).
///   `kv_wait` relies on it to check after subscribing and miss nothing.
/// - **N2 (applied writes only, each once).** An event is sent for a write
///   that landed and only for one that landed, after it is visible to
///   readers; for a shared backend, in every process.
/// - **N3 (order per key).** Events of one key come in the order the
///   backend applied the writes.
/// - **N4 (no silent gap).** A watcher that falls behind gets
///   [`WatchEvent::Lagged`] with the count lost, at the place of the gap.
#[async_trait]
pub trait WatchBackend: Send + Sync {
    /// Subscribes to the writes of `partition` (which need not exist yet).
    async fn watch(&self, partition: &str) -> Result<WatchStream>;
}
