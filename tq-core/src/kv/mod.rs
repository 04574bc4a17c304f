//! The KV semantics of contract section 3, implemented once on top of any
//! [`StorageBackend`].

mod api;
mod assemble;
mod clear;
mod get;
mod nesting;
mod put;
mod update;
mod wait;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

pub use api::KvApi;

use crate::backend::{Capabilities, StorageBackend};
use crate::error::{Error, Result};
use crate::meta::Listing;
use crate::names::{check_key, check_partition, list_names};
use crate::update::UpdatePolicy;
use crate::watch::Notifications;

/// The kv_* API over a backend: validates every call before anything is
/// written, splits batches into rows without copying tensor bytes, and
/// assembles get results. Cheap to clone (one `Arc`).
///
/// ```
/// # use std::sync::Arc;
/// # use tq_core::{KvStore, Row, Tensor, tag};
/// # async fn demo(backend: Arc<dyn tq_core::StorageBackend>) -> tq_core::Result<()> {
/// let kv = KvStore::new(backend);
/// let row = Row::new().with("input_ids", Tensor::from_vec(vec![1i64, 2, 3], [3])?);
/// let meta = kv.kv_put("sample-0", "train", Some(row), Some(tag! {"status" => "new"})).await?;
/// assert_eq!(meta.fields, ["input_ids"]);
/// let batch = kv.kv_batch_get(&["sample-0"], "train", None).await?;
/// assert_eq!(batch.num_rows(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct KvStore {
    backend: Arc<dyn StorageBackend>,
    update_policy: UpdatePolicy,
    poll_interval: Duration,
}

impl KvStore {
    /// The kv_* API over `backend`.
    pub fn new(backend: Arc<dyn StorageBackend>) -> Self {
        KvStore {
            backend,
            update_policy: UpdatePolicy::default(),
            poll_interval: Notifications::DEFAULT_POLL_INTERVAL,
        }
    }

    /// The backend underneath.
    pub fn backend(&self) -> &Arc<dyn StorageBackend> {
        &self.backend
    }

    /// What the backend promises. `conditional_write` is what the backend's
    /// [`as_conditional`](StorageBackend::as_conditional) answers, whatever
    /// the backend's own report says (the suite checks that they agree);
    /// likewise `notifications` is [`Notifications::Polling`] at this
    /// store's [`poll_interval`](Self::poll_interval) whenever the backend's
    /// [`as_watch`](StorageBackend::as_watch) is `None`.
    pub fn capabilities(&self) -> Capabilities {
        let claimed = self.backend.capabilities();
        let notifications = match self.backend.as_watch() {
            Some(_) if claimed.notifications.pushes() => claimed.notifications,
            // A watch the backend does not describe: it pushes, at least in
            // process.
            Some(_) => Notifications::InProcess,
            None => Notifications::Polling {
                interval: self.poll_interval,
            },
        };
        claimed
            .with_conditional_write(self.backend.as_conditional().is_some())
            .with_notifications(notifications)
    }

    /// Lists partitions, keys and tags ([contract L1-L3](crate::contract#list)): `Some(p)` gives
    /// `{p: {key: tag}}` with keys in first-insertion order, or an empty map
    /// when `p` holds no key; `None` gives every partition holding a key,
    /// sorted by name.
    pub async fn kv_list(&self, partition_id: Option<&str>) -> Result<Listing> {
        const OP: &str = "kv_list";
        if let Some(p) = partition_id {
            check_partition(p).map_err(|e| e.with_operation(OP))?;
        }
        let mut listing = self
            .backend
            .list(partition_id)
            .await
            .map_err(|e| annotate(e, OP, partition_id))?;
        listing.retain(|p, keys| !keys.is_empty() && partition_id.is_none_or(|want| want == p));
        listing.sort_unstable_keys();
        Ok(listing)
    }
}

/// Validates the partition and keys of a call. With `distinct`, a repeated
/// key is an error (puts); without, repeats are dropped (clears).
fn checked_keys<K: AsRef<str>>(keys: &[K], partition: &str, distinct: bool) -> Result<Vec<String>> {
    check_partition(partition)?;
    let mut seen = HashSet::with_capacity(keys.len());
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let key = key.as_ref();
        check_key(key).map_err(|e| e.with_context("partition", partition))?;
        if seen.insert(key) {
            out.push(key.to_owned());
        } else if distinct {
            return Err(
                Error::invalid_argument(format!("key {key:?} appears more than once"))
                    .with_context("partition", partition)
                    .with_context("key", key),
            );
        }
    }
    Ok(out)
}

/// Adds the operation and partition to a backend error, unless the backend
/// already named them.
fn annotate(e: Error, op: &'static str, partition: Option<&str>) -> Error {
    let e = e.with_operation(op);
    match partition {
        Some(p) if e.context_value("partition").is_none() => e.with_context("partition", p),
        _ => e,
    }
}

/// `Unexpected` unless `backend` answered as many `what` as it was asked
/// for: the engine pairs answers with requests by position.
fn check_count(backend: &dyn StorageBackend, what: &str, got: usize, asked: usize) -> Result<()> {
    if got == asked {
        return Ok(());
    }
    Err(Error::unexpected(format!(
        "backend {} returned {got} {what} for {asked} asked",
        backend.name()
    )))
}

/// An error naming keys that were not found.
fn keys_not_found<'a>(partition: &str, missing: impl IntoIterator<Item = &'a str>) -> Error {
    let missing: Vec<&str> = missing.into_iter().collect();
    Error::not_found(format!(
        "{} key(s) not found in partition {partition:?}: {}",
        missing.len(),
        list_names(missing.iter().copied())
    ))
    .with_context("partition", partition)
    .with_context("keys", list_names(missing))
}
