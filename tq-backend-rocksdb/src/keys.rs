//! The key layout: how partition, key, field and insertion order map onto
//! RocksDB keys.
//!
//! Every name is written as a *component*: its byte length as a big-endian
//! `u16`, then its UTF-8 bytes. A sequence of components is prefix-free, so
//! two different (partition, key, field) triples never produce the same
//! bytes, whatever characters the names contain (`_ : / { } \0`, spaces,
//! emoji), and every key of one partition (or one row) starts with the same
//! bytes, which makes "all rows of `p`" a plain range scan.
//!
//! | column family | RocksDB key | value |
//! |---|---|---|
//! | [`CF_ROWS`] | `C(p) C(k)` | the row record (below) |
//! | [`CF_ORDER`] | `C(p) u64be(seq)` | the key `k`, raw UTF-8 |
//! | [`CF_CELLS`] | `C(p) C(k) C(f)` | the value of field `f`, in tq-core's codec ([`tq_core::codec`]) |
//! | `default` | [`SEQ_KEY`] | the highest sequence number ever handed out, `u64be`, kept by a `max` merge operator |
//! | `default` | [`FORMAT_KEY`] | the layout version, one byte, [`FORMAT_VERSION`] |
//!
//! where `C(x) = u16be(len(x)) ‖ x`. tq-core limits names to 256 bytes
//! (partition, field) and 4096 bytes (key), far below the `u16` range; the
//! backend checks those limits before it encodes anything, so components
//! never overflow their length prefix.
//!
//! The row record, the value of a [`CF_ROWS`] entry:
//!
//! ```text
//! offset  size       field
//! 0       1          record version (currently 2)
//! 1       8          insertion sequence number, u64 big-endian
//! 9       8          write count, u64 big-endian (record version 2 only)
//! 17      4          number of fields n, u32 big-endian
//! 21      ...        n components C(f), the fields the row holds
//! ...     rest       the tag, as JSON object text
//! ```
//!
//! Everything before the tag is the record's *head*; it decodes without
//! parsing the tag, so a row whose tag no longer parses can still be
//! cleared the usual way. Records carry their own version byte: this build
//! reads version 1 records (no write count, written before `kv_update`) and
//! writes version 2, so a store of layout version 1 opens unchanged and its
//! rows move to version 2 as they are written. A build from before version
//! 2 reads such a row as `Corrupted` naming it: do not go back to one on a
//! store this build has written.
//!
//! Because sequence numbers are big-endian, the [`CF_ORDER`] entries of a
//! partition sort in insertion order: `kv_list` reads them with one range
//! scan, never touching cell data.

use tq_core::names::{MAX_FIELD_BYTES, MAX_KEY_BYTES, MAX_PARTITION_BYTES};

/// Column family of row records.
pub const CF_ROWS: &str = "rows";
/// Column family of the insertion-order index.
pub const CF_ORDER: &str = "order";
/// Column family of cell values.
pub const CF_CELLS: &str = "cells";
/// Key (in the `default` column family) of the sequence high-water mark.
pub const SEQ_KEY: &[u8] = b"seq_high";
/// Key (in the `default` column family) of the layout version.
pub const FORMAT_KEY: &[u8] = b"format";
/// The layout version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;

// The length prefix is a u16: every name tq-core accepts must fit.
const _: () = assert!(MAX_PARTITION_BYTES <= u16::MAX as usize);
const _: () = assert!(MAX_KEY_BYTES <= u16::MAX as usize);
const _: () = assert!(MAX_FIELD_BYTES <= u16::MAX as usize);

fn push_component(out: &mut Vec<u8>, name: &str) {
    // Names are checked against tq-core's limits before they get here; the
    // saturation only keeps this function panic-free on unchecked input.
    let len = u16::try_from(name.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&name.as_bytes()[..usize::from(len)]);
}

/// `C(p)`: the prefix shared by every [`CF_ROWS`], [`CF_ORDER`] and
/// [`CF_CELLS`] key of partition `p`.
pub fn partition_prefix(partition: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + partition.len());
    push_component(&mut out, partition);
    out
}

/// `C(p) C(k)`: the [`CF_ROWS`] key of a row, and the prefix of its cells.
pub fn row_key(partition: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + partition.len() + key.len());
    push_component(&mut out, partition);
    push_component(&mut out, key);
    out
}

/// `C(p) C(k) C(f)`: the [`CF_CELLS`] key of one cell.
pub fn cell_key(partition: &str, key: &str, field: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + partition.len() + key.len() + field.len());
    push_component(&mut out, partition);
    push_component(&mut out, key);
    push_component(&mut out, field);
    out
}

/// `C(p) u64be(seq)`: the [`CF_ORDER`] key of the row inserted as `seq`.
pub fn order_key(partition: &str, seq: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + partition.len());
    push_component(&mut out, partition);
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// Splits one component off the front of `bytes`: the name and the rest.
/// `None` if the bytes are truncated or the name is not UTF-8.
pub fn split_component(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    let (name, rest) = rest.split_at_checked(len)?;
    Some((std::str::from_utf8(name).ok()?, rest))
}

/// Decodes a [`CF_ROWS`] key into (partition, key).
pub fn decode_row_key(bytes: &[u8]) -> Option<(&str, &str)> {
    let (partition, rest) = split_component(bytes)?;
    let (key, rest) = split_component(rest)?;
    rest.is_empty().then_some((partition, key))
}

/// Decodes a [`CF_ORDER`] key into (partition, sequence number).
pub fn decode_order_key(bytes: &[u8]) -> Option<(&str, u64)> {
    let (partition, rest) = split_component(bytes)?;
    let seq: [u8; 8] = rest.try_into().ok()?;
    Some((partition, u64::from_be_bytes(seq)))
}

/// The smallest byte string greater than every string starting with
/// `prefix`, for an iterator's upper bound; `None` if there is none (the
/// prefix is all `0xff`).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last < u8::MAX {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const NAMES: &[&str] = &[
        "a", "b", "ab", "a_b", "a:b", "a/b", "{a}", "a\0b", "\0", "\0\0", " ", "a b", "🦀", "é",
        "_", ":", "a\u{1}", "\u{2}a",
    ];

    #[test]
    fn cell_keys_are_injective_over_tricky_names() {
        let mut seen = HashSet::new();
        for p in NAMES {
            for k in NAMES {
                for f in NAMES {
                    assert!(
                        seen.insert(cell_key(p, k, f)),
                        "collision at {p:?} {k:?} {f:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn row_keys_round_trip_and_start_with_the_partition_prefix() {
        for p in NAMES {
            for k in NAMES {
                let key = row_key(p, k);
                assert_eq!(decode_row_key(&key), Some((*p, *k)));
                assert!(key.starts_with(&partition_prefix(p)));
                assert!(cell_key(p, k, "f").starts_with(&key));
                // No other partition's rows fall inside this prefix.
                for q in NAMES.iter().filter(|q| q != &p) {
                    assert!(!row_key(q, k).starts_with(&partition_prefix(p)));
                }
            }
        }
    }

    #[test]
    fn order_keys_sort_by_sequence_within_a_partition() {
        let a = order_key("p", 1);
        let b = order_key("p", 256);
        let c = order_key("p", u64::MAX);
        assert!(a < b && b < c);
        assert_eq!(decode_order_key(&b), Some(("p", 256)));
        let upper = prefix_successor(&partition_prefix("p")).unwrap();
        assert!(c < upper);
        assert!(order_key("q", 0) >= upper);
    }

    #[test]
    fn decoding_garbage_is_none_not_a_panic() {
        for bytes in [&b""[..], b"\0", b"\0\x05ab", b"\xff\xff", b"\0\x01\xff\0\0"] {
            assert_eq!(decode_row_key(bytes), None);
            assert_eq!(decode_order_key(bytes), None);
        }
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
        assert_eq!(prefix_successor(&[1, 0xff]), Some(vec![2]));
    }
}
