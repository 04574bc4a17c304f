//! One partition: rows spread over independently locked shards.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, MutexGuard};
use tq_core::{Tag, Value};

/// Shards per partition: enough that 2-32 concurrent callers rarely meet,
/// few enough that an empty partition stays small.
pub(crate) const SHARDS: usize = 16;

/// A stored row.
#[derive(Debug)]
pub(crate) struct StoredRow {
    /// Insertion sequence number: `kv_list` order.
    pub(crate) seq: u64,
    /// Changes with every write ([`tq_core::RowVersion`]), from the
    /// backend's counter, so it never repeats even across a clear.
    pub(crate) version: u64,
    /// Field -> value, in first-write order. Rows have few fields, so a
    /// vector beats a map here.
    pub(crate) cells: Vec<(String, Value)>,
    pub(crate) tag: Tag,
}

impl StoredRow {
    pub(crate) fn cell(&self, field: &str) -> Option<&Value> {
        self.cells.iter().find(|(f, _)| f == field).map(|(_, v)| v)
    }
}

/// One shard's rows.
pub(crate) type Shard = HashMap<String, StoredRow>;

/// A partition.
#[derive(Debug)]
pub(crate) struct Partition {
    shards: [Mutex<Shard>; SHARDS],
    next_seq: AtomicU64,
    hasher: RandomState,
}

/// The shards a call holds, indexed by shard number.
pub(crate) struct Locked<'a> {
    guards: Vec<(usize, MutexGuard<'a, Shard>)>,
    partition: &'a Partition,
}

impl Partition {
    pub(crate) fn new() -> Self {
        Partition {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            next_seq: AtomicU64::new(0),
            hasher: RandomState::new(),
        }
    }

    pub(crate) fn shard_of(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) as usize) % SHARDS
    }

    /// Locks the shards `keys` hash to, in ascending shard order so that two
    /// calls can never wait on each other in a cycle.
    pub(crate) fn lock<'a, K: AsRef<str>>(&'a self, keys: &[K]) -> Locked<'a> {
        let mut wanted = [false; SHARDS];
        for key in keys {
            wanted[self.shard_of(key.as_ref())] = true;
        }
        let guards = (0..SHARDS)
            .filter(|&i| wanted[i])
            .map(|i| (i, self.shards[i].lock()))
            .collect();
        Locked {
            guards,
            partition: self,
        }
    }

    /// Locks every shard, in order.
    pub(crate) fn lock_all(&self) -> Locked<'_> {
        Locked {
            guards: self
                .shards
                .iter()
                .enumerate()
                .map(|(i, s)| (i, s.lock()))
                .collect(),
            partition: self,
        }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::Relaxed)
    }
}

impl Locked<'_> {
    /// The locked shard holding `key`, or `None` if `key` was not among the
    /// keys locked (a bug in the caller, reported as an error, not a panic).
    pub(crate) fn shard(&mut self, key: &str) -> Option<&mut Shard> {
        let want = self.partition.shard_of(key);
        self.guards
            .iter_mut()
            .find(|(i, _)| *i == want)
            .map(|(_, guard)| &mut **guard)
    }

    /// Every locked shard.
    pub(crate) fn shards(&self) -> impl Iterator<Item = &Shard> {
        self.guards.iter().map(|(_, g)| &**g)
    }

    /// Whether every locked shard is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.shards().all(HashMap::is_empty)
    }
}
