//! `kv_wait` and `kv_watch` (contract W1-W3): waiting is woken by the
//! backend's watch stream where it has one, and polls where it has none.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use indexmap::IndexMap;
use tokio::time::Instant;

use super::get::checked_fields;
use super::{KvStore, annotate, check_count, checked_keys};
use crate::backend::StorageBackend;
use crate::error::{Error, ErrorKind, Result};
use crate::fields::FieldNames;
use crate::names::{check_partition, list_names};
use crate::watch::{WatchEvent, WatchStream};

impl KvStore {
    /// Waits until every key of `keys` holds every field of `fields`
    /// ([contract W1](crate::contract#wait-and-watch)); with `fields = None`
    /// (or an empty list), until every key exists.
    ///
    /// Returns at once if they already do. Otherwise it is woken by the
    /// backend's pushed events ([`Notifications::InProcess`](crate::Notifications::InProcess) or
    /// [`Notifications::CrossProcess`](crate::Notifications::CrossProcess)): it subscribes first, then checks,
    /// then waits, so a put that lands while the wait is being set up is
    /// never missed. A backend that does not push is checked again every
    /// [`poll_interval`](Self::poll_interval) ([`Notifications::Polling`](crate::Notifications::Polling)).
    /// Before it returns `Ok` a wait reads the rows once more, so it never
    /// returns on a state that is already gone by then (a key cleared right
    /// after its put); a state that held only between two writes may be
    /// missed that way.
    ///
    /// After `timeout` it is `Timeout` (temporary), naming the partition,
    /// the keys still missing something and the fields missing. Keys may
    /// repeat (they count once); an empty key list, a repeated field or a bad
    /// name is `InvalidArgument`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tq_core::{KvStore, Row, Tensor};
    /// # async fn demo(kv: KvStore) -> tq_core::Result<()> {
    /// // A trainer waits for the rewards of its samples instead of polling.
    /// kv.kv_wait(&["s0", "s1"], "train", Some(&["reward"]), Duration::from_secs(60))
    ///     .await?;
    /// let rewards = kv.kv_batch_get(&["s0", "s1"], "train", Some(&["reward"])).await?;
    /// # Ok(()) }
    /// ```
    pub async fn kv_wait<K: AsRef<str> + Sync>(
        &self,
        keys: &[K],
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
        timeout: Duration,
    ) -> Result<()> {
        const OP: &str = "kv_wait";
        let deadline = Instant::now() + timeout;
        let wanted = fields
            .map(|f| checked_fields(&f.field_names(), partition_id))
            .transpose()
            .map_err(|e| e.with_operation(OP))?
            .unwrap_or_default();
        let keys = checked_keys(keys, partition_id, false).map_err(|e| e.with_operation(OP))?;
        if keys.is_empty() {
            return Err(Error::invalid_argument("the key list is empty")
                .with_context("partition", partition_id)
                .with_operation(OP));
        }
        let waiter = Waiter {
            backend: self.backend.as_ref(),
            partition: partition_id,
            keys: &keys,
            wanted: &wanted,
            deadline,
            timeout,
        };
        let outcome = match self.backend.as_watch() {
            // Subscribe first (N1), then check, then wait.
            Some(watch) => match watch.watch(partition_id).await {
                Ok(events) => waiter.pushed(events).await,
                Err(e) => Err(e),
            },
            None => waiter.polled(self.poll_interval).await,
        };
        outcome.map_err(|e| annotate(e, OP, Some(partition_id)))
    }

    /// A stream of the writes applied to `partition_id`
    /// ([contract W2](crate::contract#wait-and-watch)) from now on: puts with the
    /// key, the fields written and the tag after the merge; clears with the
    /// key and, for a field-level clear, the fields. Events of one key come
    /// in the order the backend applied them. A watcher that falls behind
    /// reads [`WatchEvent::Lagged`] with the number of events lost, never a
    /// silent gap; it resyncs with [`kv_list`](Self::kv_list).
    ///
    /// The subscription is in place when this returns. On a backend that
    /// does not push ([`Notifications::Polling`](crate::Notifications::Polling)) it is `Unsupported`:
    /// polls cannot see every write, and a watch that drops writes without
    /// saying so would be worse than none. `kv_wait` works there.
    ///
    /// ```
    /// # use futures::StreamExt;
    /// # use tq_core::{KvStore, WatchEvent};
    /// # async fn demo(kv: KvStore) -> tq_core::Result<()> {
    /// let mut events = kv.kv_watch("train").await?;
    /// while let Some(event) = events.next().await {
    ///     match event? {
    ///         WatchEvent::Put { key, tag, .. } => println!("{key} now {tag:?}"),
    ///         WatchEvent::Lagged { missed } => println!("lost {missed}: resync with kv_list"),
    ///         _ => {}
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn kv_watch(&self, partition_id: &str) -> Result<WatchStream> {
        const OP: &str = "kv_watch";
        check_partition(partition_id).map_err(|e| e.with_operation(OP))?;
        let Some(watch) = self.backend.as_watch() else {
            return Err(Error::unsupported(format!(
                "backend {} does not push events of its writes; kv_wait polls it instead",
                self.backend.name()
            ))
            .with_context("partition", partition_id)
            .with_operation(OP));
        };
        watch
            .watch(partition_id)
            .await
            .map_err(|e| annotate(e, OP, Some(partition_id)))
    }

    /// How often `kv_wait` checks a backend that does not push.
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    /// Sets how often `kv_wait` checks a backend that does not push
    /// (default [`Notifications::DEFAULT_POLL_INTERVAL`](crate::Notifications::DEFAULT_POLL_INTERVAL); at least 1 ms).
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }
}

/// What each waited key still lacks: `None` for a missing row, else the
/// wanted fields it does not hold. Satisfied keys are not in the map.
type Missing = IndexMap<String, Option<BTreeSet<String>>>;

struct Waiter<'a> {
    backend: &'a dyn StorageBackend,
    partition: &'a str,
    keys: &'a [String],
    wanted: &'a [String],
    deadline: Instant,
    timeout: Duration,
}

impl Waiter<'_> {
    /// Waits on pushed events, replaying them onto the last check.
    async fn pushed(&self, mut events: WatchStream) -> Result<()> {
        let mut missing = self.check().await?;
        // Whether events were replayed onto the last check: they may
        // predate it, so a state they complete is confirmed by another
        // check before the wait returns (see `kv_wait`). A check alone is
        // the truth.
        let mut replayed = false;
        loop {
            if missing.is_empty() {
                if !replayed {
                    return Ok(());
                }
                // The next event sets `replayed` again before it is read.
                missing = self.check().await?;
                if missing.is_empty() {
                    return Ok(());
                }
            }
            let next = tokio::time::timeout_at(self.deadline, events.next()).await;
            match next {
                Err(_elapsed) => return self.timed_out().await,
                Ok(None) => {
                    return Err(Error::new(
                        ErrorKind::Unavailable,
                        "the backend's event stream ended while waiting",
                    ));
                }
                Ok(Some(Err(e))) => return Err(e),
                Ok(Some(Ok(WatchEvent::Lagged { .. }))) => {
                    missing = self.check().await?;
                    replayed = false;
                }
                Ok(Some(Ok(event))) => {
                    self.replay(&mut missing, event);
                    replayed = true;
                }
            }
        }
    }

    /// Checks every `interval` until satisfied or out of time.
    async fn polled(&self, interval: Duration) -> Result<()> {
        loop {
            if self.check().await?.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= self.deadline {
                return self.timed_out().await;
            }
            tokio::time::sleep_until(self.deadline.min(now + interval)).await;
        }
    }

    /// What the keys lack now, read from the backend.
    async fn check(&self) -> Result<Missing> {
        let rows = self
            .backend
            .get(self.partition, self.keys, Some(self.wanted))
            .await?;
        check_count(self.backend, "rows", rows.len(), self.keys.len())?;
        let mut missing = Missing::new();
        for (key, row) in self.keys.iter().zip(rows) {
            match row {
                None => {
                    missing.insert(key.clone(), None);
                }
                Some(cells) => {
                    let lacking: BTreeSet<String> = self
                        .wanted
                        .iter()
                        .filter(|f| !cells.iter().any(|(held, _)| held == *f))
                        .cloned()
                        .collect();
                    if !lacking.is_empty() {
                        missing.insert(key.clone(), Some(lacking));
                    }
                }
            }
        }
        Ok(missing)
    }

    /// Applies one event to what the keys lack.
    fn replay(&self, missing: &mut Missing, event: WatchEvent) {
        match event {
            WatchEvent::Put { key, fields, .. } => {
                let Some(lacking) = missing.get_mut(&key) else {
                    return;
                };
                let mut now = lacking.take().unwrap_or_else(|| self.all_wanted());
                now.retain(|f| !fields.contains(f));
                match now.is_empty() {
                    true => {
                        missing.shift_remove(&key);
                    }
                    false => *lacking = Some(now),
                }
            }
            WatchEvent::Clear { key, fields: None } => {
                if self.keys.contains(&key) {
                    missing.insert(key, None);
                }
            }
            WatchEvent::Clear {
                key,
                fields: Some(cleared),
            } => {
                if !self.keys.contains(&key) {
                    return;
                }
                let lost = cleared.into_iter().filter(|f| self.wanted.contains(f));
                if let Some(lacking) = missing.entry(key).or_insert_with(|| Some(BTreeSet::new())) {
                    lacking.extend(lost);
                }
                missing.retain(|_, lacking| lacking.as_ref().is_none_or(|l| !l.is_empty()));
            }
            WatchEvent::Lagged { .. } => {}
        }
    }

    fn all_wanted(&self) -> BTreeSet<String> {
        self.wanted.iter().cloned().collect()
    }

    /// The `Timeout` error, naming what is missing at the deadline; `Ok` if
    /// a last check finds nothing missing after all.
    async fn timed_out(&self) -> Result<()> {
        let missing = self.check().await?;
        if missing.is_empty() {
            return Ok(());
        }
        let mut fields = BTreeSet::new();
        let described: Vec<String> = missing
            .iter()
            .map(|(key, lacking)| match lacking {
                None => format!("{key:?} (no row)"),
                Some(lacking) => {
                    fields.extend(lacking.iter().cloned());
                    format!(
                        "{key:?} (lacks {})",
                        list_names(lacking.iter().map(String::as_str))
                    )
                }
            })
            .collect();
        let mut error = Error::new(
            ErrorKind::Timeout,
            format!(
                "{} of {} key(s) still missing after {:?} in partition {:?}: {}",
                missing.len(),
                self.keys.len(),
                self.timeout,
                self.partition,
                described.join(", ")
            ),
        )
        .with_context("partition", self.partition)
        .with_context("keys", list_names(missing.keys().map(String::as_str)));
        if !self.wanted.is_empty() {
            // A key with no row lacks every wanted field.
            let whole_rows = missing.values().any(Option::is_none);
            let names = self
                .wanted
                .iter()
                .map(String::as_str)
                .filter(|f| whole_rows || fields.contains(*f));
            error = error.with_context("fields", list_names(names));
        }
        Err(error)
    }
}
