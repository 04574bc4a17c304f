//! The stamp every row write leaves in its row's hash field `v`: with the
//! row's insertion sequence `s`, the version a conditional write compares
//! (see [`crate::conditional`]).
//!
//! A stamp is a fresh pseudo-random non-zero `u64` sent with the write
//! rather than a counter the script increments: it rides in the `HSET`
//! that writes the row's cells anyway, so an ordinary put pays no extra
//! command for its row's version (BENCHMARKS.md, "What field-level clear
//! and kv_update's versions cost"). Two writes of one
//! row get the same stamp with probability 2^-64: the stamps of one
//! process are SipHash outputs of a counter under keys drawn at start, and
//! those of different processes use different keys.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The hash field holding a row's write stamp.
pub const STAMP_FIELD: &[u8] = b"v";

static KEYS: LazyLock<RandomState> = LazyLock::new(RandomState::new);
static WRITES: AtomicU64 = AtomicU64::new(0);

/// A new write stamp, as the decimal text the scripts store and compare.
pub fn next_stamp() -> String {
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    (KEYS.hash_one(n) | 1).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_distinct_non_zero_numbers() {
        let stamps: std::collections::HashSet<String> = (0..10_000).map(|_| next_stamp()).collect();
        assert_eq!(stamps.len(), 10_000);
        assert!(
            stamps
                .iter()
                .all(|s| s.parse::<u64>().is_ok_and(|v| v != 0))
        );
    }
}
