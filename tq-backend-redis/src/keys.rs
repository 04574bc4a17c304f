//! The key layout: how partitions, keys, fields and tag entries map to Redis
//! keys and hash fields.
//!
//! With `P` the key prefix, `b` the row's bucket (decimal), `n` the byte
//! length of the partition name (decimal) and `p` the partition:
//!
//! | Redis key | type | holds |
//! |---|---|---|
//! | `P{b}:r:n:p:key` | hash | one row: `s` = insertion sequence, `v` = stamp of its last write, `f<field>` = codec bytes of a cell kept in the hash, `x<field>` = codec header of a cell whose payload is kept under a key of its own, `t<name>` = JSON of a tag entry |
//! | `P{b}:c:n:p:m:key<field>` | string | the payload of cell `field` of the row (its header is `x<field>` in the hash) (`m` the byte length of the key) |
//! | `P{b}:i:n:p` | sorted set | the partition's keys in bucket `b`, scored by insertion sequence |
//! | `P{b}:p` | set | the partitions that hold rows in bucket `b` |
//! | `P{b}:w:n:p` | pub/sub channel (no key) | the events of the partition's rows in bucket `b` (format: `src/events.rs`); `PUBLISH` standalone, `SPUBLISH` (sharded, in the bucket's slot) in a cluster |
//! | `P:seq` | string | the store's insertion counter |
//! | `P:layout` | string | the layout version and bucket count, written at the first open |
//!
//! A cell lives either in the row's hash (`f<field>`) or under its own key
//! (`x<field>` in the hash), never both: a large value written with `SET`
//! is stored as the very buffer Redis read it into, where `HSET` stores a
//! copy (see the crate docs, "Where a cell lives").
//!
//! Injectivity: the partition is length-prefixed and the key is the rest of
//! the Redis key, so `(partition, key)` maps to one row key and back for any
//! UTF-8 (including `{ } : /`, NUL, spaces, emoji). Hash fields start with
//! one byte naming their kind. The `{b}` hash tag is the first `{` of every
//! key (the prefix may not contain braces), so a row, its cell keys, its
//! index entry and its bucket's partition set share one cluster slot: one
//! `MULTI`/`EXEC` (a put) or one Lua script (a clear) updates them
//! atomically. Buckets spread a partition's rows over the masters.

/// Hash field of a row holding its insertion sequence.
pub const SEQ_FIELD: &[u8] = b"s";
/// First byte of a hash field holding a cell.
pub const CELL_MARK: u8 = b'f';
/// First byte of a hash field holding a tag entry.
pub const TAG_MARK: u8 = b't';
/// First byte of the hash field that says the cell lives under a key of
/// its own ([`KeyLayout::cell`]); the field holds the cell's codec header,
/// the key its payload.
pub const CELL_KEY_MARK: u8 = b'x';
/// The layout version this build reads and writes. Version 1 kept every
/// cell in the row's hash; version 2 kept large cells whole under keys of
/// their own, with an empty marker in the hash; version 3 keeps the
/// header in the marker and the payload alone under the key. Each version
/// misreads the others' stores, so they refuse them.
pub const LAYOUT_VERSION: u32 = 3;

/// Builds the Redis keys of one store (one key prefix and bucket count).
#[derive(Debug, Clone)]
pub struct KeyLayout {
    prefix: String,
    buckets: u16,
}

impl KeyLayout {
    /// The layout of a store with `prefix` and `buckets` (at least 1).
    pub fn new(prefix: &str, buckets: u16) -> Self {
        KeyLayout {
            prefix: prefix.to_owned(),
            buckets: buckets.max(1),
        }
    }

    /// The number of buckets.
    pub fn buckets(&self) -> u16 {
        self.buckets
    }

    /// The bucket of each key of one call, aligned with `keys`.
    pub fn buckets_of<'a>(
        &self,
        partition: &str,
        keys: impl IntoIterator<Item = &'a str>,
    ) -> Vec<u16> {
        keys.into_iter()
            .map(|k| self.bucket(partition, k))
            .collect()
    }

    /// The bucket of `key` in `partition`: a stable hash (FNV-1a, 64 bit)
    /// of both, so every process computes the same one.
    pub fn bucket(&self, partition: &str, key: &str) -> u16 {
        if self.buckets == 1 {
            return 0;
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        eat(&(partition.len() as u64).to_le_bytes());
        eat(partition.as_bytes());
        eat(key.as_bytes());
        (h % u64::from(self.buckets)) as u16
    }

    /// `P{b}:`, the start of every key of bucket `b`.
    pub fn bucket_base(&self, bucket: u16) -> Vec<u8> {
        format!("{}{{{bucket}}}:", self.prefix).into_bytes()
    }

    /// The row hash of `key`: `P{b}:r:n:p:key`.
    pub fn row(&self, bucket: u16, partition: &str, key: &str) -> Vec<u8> {
        let mut k = self.row_base(bucket, partition);
        k.extend_from_slice(key.as_bytes());
        k
    }

    /// `P{b}:r:n:p:`, to which a key is appended to name its row.
    pub fn row_base(&self, bucket: u16, partition: &str) -> Vec<u8> {
        let mut k = self.bucket_base(bucket);
        k.extend_from_slice(format!("r:{}:{partition}:", partition.len()).as_bytes());
        k
    }

    /// The key of cell `field` of row `key`, when it lives under a key of
    /// its own: `P{b}:c:n:p:m:key<field>`, [`cell_base`](Self::cell_base)
    /// followed by the field's name.
    pub fn cell(&self, bucket: u16, partition: &str, key: &str, field: &str) -> Vec<u8> {
        let mut k = self.cell_base(bucket, partition, key);
        k.extend_from_slice(field.as_bytes());
        k
    }

    /// `P{b}:c:n:p:m:key`, to which a field's name is appended to name the
    /// key of one of the row's cells (the scripts do it for the cells they
    /// remove). The key is length-prefixed too, so `(partition, key,
    /// field)` maps to one Redis key.
    pub fn cell_base(&self, bucket: u16, partition: &str, key: &str) -> Vec<u8> {
        let mut k = self.bucket_base(bucket);
        k.extend_from_slice(
            format!("c:{}:{partition}:{}:{key}", partition.len(), key.len()).as_bytes(),
        );
        k
    }

    /// The index of `partition` in bucket `b`: `P{b}:i:n:p`.
    pub fn index(&self, bucket: u16, partition: &str) -> Vec<u8> {
        let mut k = self.bucket_base(bucket);
        k.extend_from_slice(format!("i:{}:{partition}", partition.len()).as_bytes());
        k
    }

    /// The watch channel of `partition` in bucket `b`: `P{b}:w:n:p`. It
    /// shares the row's hash tag, so a cluster's sharded channel lives on
    /// the master that applies the row's writes.
    pub fn watch_channel(&self, bucket: u16, partition: &str) -> Vec<u8> {
        let mut k = self.bucket_base(bucket);
        k.extend_from_slice(format!("w:{}:{partition}", partition.len()).as_bytes());
        k
    }

    /// The set of partitions with rows in bucket `b`: `P{b}:p`.
    pub fn partitions(&self, bucket: u16) -> Vec<u8> {
        let mut k = self.bucket_base(bucket);
        k.push(b'p');
        k
    }

    /// The insertion counter: `P:seq`.
    pub fn counter(&self) -> Vec<u8> {
        format!("{}:seq", self.prefix).into_bytes()
    }

    /// The layout marker: `P:layout`.
    pub fn layout_marker(&self) -> Vec<u8> {
        format!("{}:layout", self.prefix).into_bytes()
    }

    /// What the layout marker holds for this layout.
    pub fn layout_description(&self) -> String {
        format!(
            "tq-backend-redis layout {LAYOUT_VERSION}; buckets={}",
            self.buckets
        )
    }

    /// A glob that matches every key of this store (for tests and tools;
    /// glob characters in the prefix are escaped).
    pub fn scan_pattern(&self) -> String {
        let mut out = String::new();
        for c in self.prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('*');
        out
    }
}

/// The hash field of cell `field`: `f<field>`.
pub fn cell_field(field: &str) -> Vec<u8> {
    let mut f = Vec::with_capacity(field.len() + 1);
    f.push(CELL_MARK);
    f.extend_from_slice(field.as_bytes());
    f
}

/// The hash field saying cell `field` lives under a key of its own:
/// `x<field>`.
pub fn cell_key_field(field: &str) -> Vec<u8> {
    let mut f = Vec::with_capacity(field.len() + 1);
    f.push(CELL_KEY_MARK);
    f.extend_from_slice(field.as_bytes());
    f
}

/// The hash field of tag entry `name`: `t<name>`.
pub fn tag_field(name: &str) -> Vec<u8> {
    let mut f = Vec::with_capacity(name.len() + 1);
    f.push(TAG_MARK);
    f.extend_from_slice(name.as_bytes());
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn row_keys_are_injective_on_tricky_names() {
        let names = [
            "a", "a:", ":a", "a:b", "1:a", "{a}", "}", "{", "a\0b", "\0", "é", "🦀", "a b", "1",
            "r:1:a",
        ];
        let layout = KeyLayout::new("tq", 1);
        let mut seen = HashSet::new();
        for p in names {
            for k in names {
                assert!(
                    seen.insert(layout.row(0, p, k)),
                    "collision for {p:?}/{k:?}"
                );
            }
            for k in names {
                for f in names {
                    assert!(
                        seen.insert(layout.cell(0, p, k, f)),
                        "collision for cell {p:?}/{k:?}/{f:?}"
                    );
                }
            }
            assert!(seen.insert(layout.index(0, p)));
            assert!(seen.insert(layout.watch_channel(0, p)));
        }
        assert!(seen.insert(layout.partitions(0)));
    }

    #[test]
    fn buckets_are_stable_and_spread() {
        let layout = KeyLayout::new("tq", 256);
        assert_eq!(layout.bucket("p", "k"), layout.bucket("p", "k"));
        let used: HashSet<u16> = (0..3000)
            .map(|i| layout.bucket("p", &format!("k{i}")))
            .collect();
        assert!(used.len() > 240, "{}", used.len());
        assert_eq!(KeyLayout::new("tq", 1).bucket("p", "k"), 0);
        assert_eq!(layout.row(7, "p", "k"), b"tq{7}:r:1:p:k");
        assert_eq!(layout.cell(7, "p", "k", "f"), b"tq{7}:c:1:p:1:kf");
    }

    #[test]
    fn scan_pattern_escapes_globs() {
        assert_eq!(KeyLayout::new("a*b", 1).scan_pattern(), "a\\*b*");
    }
}
