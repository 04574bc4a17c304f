//! The row record: what [`crate::keys::CF_ROWS`] holds for each row.
//!
//! ```text
//! offset  size       field
//! 0       1          record version (currently 2)
//! 1       8          insertion sequence number, u64 big-endian
//! 9       8          write count, u64 big-endian (version 2 only)
//! 17      4          number of fields n, u32 big-endian
//! 21      ...        n components, each u16be(len) ‖ field name (UTF-8)
//! ...     rest       the tag, as JSON object text
//! ```
//!
//! Version 1 records (written before conditional writes) have no write
//! count; they decode with a count of 0, and their next write stores them
//! as version 2. The sequence number and the write count make the row's
//! [`tq_core::RowVersion`]: a row cleared and put again gets a new
//! sequence number, so it never gets back a version it had.
//!
//! The record is the row: a row exists exactly when its record does. The
//! field list names every cell the row holds in [`crate::keys::CF_CELLS`], so
//! a get or a clear never scans for cells, and a put can return the row's
//! full field list without reading cell data.
//!
//! The *head* (version, sequence number, field list) decodes on its own
//! ([`RowRecord::decode_head`]), without parsing the tag: a clear needs only
//! the head, so a row whose tag no longer parses still clears in the usual
//! way. (A clear of a row whose head does not decode either finds the row's
//! insertion-order entry and cells by scanning; see [`crate::store`].)

use tq_core::{Error, Result, Tag};

use crate::keys::split_component;

const RECORD_VERSION: u8 = 2;
/// The record version before write counts, still read.
const RECORD_VERSION_1: u8 = 1;

/// One row's metadata.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RowRecord {
    /// The insertion sequence number (its [`crate::keys::CF_ORDER`] entry).
    pub seq: u64,
    /// How many times the row was written (0 for a version 1 record).
    pub writes: u64,
    /// Every field the row holds, each once, in first-write order.
    pub fields: Vec<String>,
    /// The row's full tag.
    pub tag: Tag,
}

impl RowRecord {
    /// A new, empty row inserted as `seq`.
    pub fn new(seq: u64) -> Self {
        RowRecord {
            seq,
            writes: 0,
            fields: Vec::new(),
            tag: Tag::new(),
        }
    }

    /// Adds `field` to the field list unless it is there already.
    pub fn add_field(&mut self, field: &str) {
        if !self.fields.iter().any(|f| f == field) {
            self.fields.push(field.to_owned());
        }
    }

    /// The row's version: its sequence number and write count.
    pub fn version(&self) -> tq_core::RowVersion {
        tq_core::RowVersion::new((u128::from(self.seq) << 64) | u128::from(self.writes))
    }

    /// Drops `field` from the field list, if it is there.
    pub fn remove_field(&mut self, field: &str) {
        self.fields.retain(|f| f != field);
    }

    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.push(RECORD_VERSION);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.writes.to_be_bytes());
        let n = u32::try_from(self.fields.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&n.to_be_bytes());
        for field in self.fields.iter().take(n as usize) {
            // Field names are checked (<= 256 bytes) before they get here.
            let len = u16::try_from(field.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&field.as_bytes()[..usize::from(len)]);
        }
        // Serializing a JSON map into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &self.tag);
        out
    }

    /// Decodes a record; anything malformed is [`tq_core::ErrorKind::Corrupted`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let head = Self::decode_head(bytes)?;
        let tag_json = bytes.get(head.tag_at..).unwrap_or_default();
        let tag: Tag = serde_json::from_slice(tag_json).map_err(|e| {
            Error::corrupted("row record is corrupted: tag is not a JSON object").with_source(e)
        })?;
        Ok(RowRecord {
            seq: head.seq,
            writes: head.writes,
            fields: head.fields,
            tag,
        })
    }

    /// Decodes the head of a record (everything but the tag); anything
    /// malformed is [`tq_core::ErrorKind::Corrupted`].
    pub fn decode_head(bytes: &[u8]) -> Result<RecordHead> {
        let bad = |what: &str| Error::corrupted(format!("row record is corrupted: {what}"));
        let (&version, rest) = bytes.split_first().ok_or_else(|| bad("empty"))?;
        if version != RECORD_VERSION && version != RECORD_VERSION_1 {
            return Err(bad(&format!(
                "record version {version} is not supported (this build reads \
                 {RECORD_VERSION_1} and {RECORD_VERSION})"
            )));
        }
        let (seq, rest) = rest
            .split_first_chunk::<8>()
            .ok_or_else(|| bad("truncated sequence number"))?;
        let (writes, rest) = if version == RECORD_VERSION {
            let (writes, rest) = rest
                .split_first_chunk::<8>()
                .ok_or_else(|| bad("truncated write count"))?;
            (u64::from_be_bytes(*writes), rest)
        } else {
            (0, rest)
        };
        let (n, mut rest) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| bad("truncated field count"))?;
        let n = u32::from_be_bytes(*n) as usize;
        // Each field takes at least 3 bytes: a bound before allocating.
        if n > rest.len() / 3 {
            return Err(bad("field count exceeds the record"));
        }
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            let (field, tail) = split_component(rest).ok_or_else(|| bad("truncated field name"))?;
            if field.is_empty() {
                return Err(bad("empty field name"));
            }
            fields.push(field.to_owned());
            rest = tail;
        }
        Ok(RecordHead {
            seq: u64::from_be_bytes(*seq),
            writes,
            fields,
            tag_at: bytes.len() - rest.len(),
        })
    }
}

/// A record's head: what a clear needs, decoded without the tag.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RecordHead {
    /// The insertion sequence number.
    pub seq: u64,
    /// How many times the row was written.
    pub writes: u64,
    /// Every field the row holds.
    pub fields: Vec<String>,
    /// Where the tag's JSON text starts in the record.
    pub tag_at: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut record = RowRecord::new(42);
        record.add_field("input_ids");
        record.add_field("🦀\0:");
        record.add_field("input_ids");
        record.tag = tq_core::tag! {"status" => "running", "step" => 3};
        record.writes = 5;
        let back = RowRecord::decode(&record.encode()).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.fields, ["input_ids", "🦀\0:"]);
    }

    #[test]
    fn a_version_1_record_decodes_with_no_writes() {
        // Version 1: no write count between the sequence and the fields.
        let mut bytes = vec![1u8];
        bytes.extend_from_slice(&42u64.to_be_bytes());
        bytes.extend_from_slice(&1u32.to_be_bytes());
        bytes.extend_from_slice(&1u16.to_be_bytes());
        bytes.extend_from_slice(b"x");
        bytes.extend_from_slice(br#"{"s":1}"#);
        let record = RowRecord::decode(&bytes).unwrap();
        assert_eq!((record.seq, record.writes), (42, 0));
        assert_eq!(record.fields, ["x"]);
        assert_eq!(record.tag, tq_core::tag! {"s" => 1});
        assert_eq!(record.version().get(), 42u128 << 64);
    }

    #[test]
    fn every_truncation_is_corrupted_not_a_panic() {
        let mut record = RowRecord::new(7);
        record.add_field("a");
        record.tag = tq_core::tag! {"k" => [1, 2]};
        let bytes = record.encode();
        for cut in 0..bytes.len() {
            let err = RowRecord::decode(&bytes[..cut]).unwrap_err();
            assert_eq!(err.kind(), tq_core::ErrorKind::Corrupted, "cut {cut}");
        }
        let mut wrong_version = bytes.clone();
        wrong_version[0] = 9;
        assert!(RowRecord::decode(&wrong_version).is_err());
        let mut huge_count = bytes;
        huge_count[17..21].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(RowRecord::decode(&huge_count).is_err());
    }

    #[test]
    fn the_head_decodes_without_the_tag() {
        let mut record = RowRecord::new(9);
        record.add_field("x");
        record.tag = tq_core::tag! {"s" => 1};
        let mut bytes = record.encode();
        let head = RowRecord::decode_head(&bytes).unwrap();
        assert_eq!(
            (head.seq, head.fields.as_slice()),
            (9, &["x".to_owned()][..])
        );
        assert_eq!(&bytes[head.tag_at..], br#"{"s":1}"#);
        bytes.truncate(head.tag_at);
        bytes.extend_from_slice(b"\xffnot json");
        assert_eq!(RowRecord::decode_head(&bytes).unwrap(), head);
        let err = RowRecord::decode(&bytes).unwrap_err();
        assert_eq!(err.kind(), tq_core::ErrorKind::Corrupted);
        assert!(err.message().contains("tag"), "{err}");
    }

    #[test]
    fn a_tag_nested_to_the_limit_round_trips() {
        use tq_core::json::{MAX_JSON_DEPTH, json_depth};
        let mut deep = serde_json::json!({"leaf": 1});
        for _ in 2..MAX_JSON_DEPTH {
            deep = serde_json::Value::Array(vec![deep]);
        }
        let mut record = RowRecord::new(3);
        record.add_field("f");
        record.tag.insert("deep".into(), deep);
        assert_eq!(
            json_depth(&serde_json::Value::Object(record.tag.clone())),
            MAX_JSON_DEPTH
        );
        assert_eq!(RowRecord::decode(&record.encode()).unwrap(), record);
    }

    #[test]
    fn a_stored_tag_too_deep_to_parse_is_corrupted_without_overflowing_a_1_mib_stack() {
        let mut bytes = RowRecord::new(1).encode();
        bytes.truncate(bytes.len() - 2); // the empty tag `{}`
        for levels in [200, 1_000_000] {
            let mut record = bytes.clone();
            record.extend_from_slice(b"{\"e\":");
            record.extend(std::iter::repeat_n(b'[', levels));
            record.extend(std::iter::repeat_n(b']', levels));
            record.push(b'}');
            std::thread::Builder::new()
                .stack_size(1 << 20)
                .spawn(move || {
                    let err = RowRecord::decode(&record).unwrap_err();
                    assert_eq!(err.kind(), tq_core::ErrorKind::Corrupted, "{err}");
                })
                .unwrap()
                .join()
                .unwrap();
        }
    }
}
