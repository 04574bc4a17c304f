//! The JSON nesting limit, enforced by the backend itself.
//!
//! [`tq_core::KvStore`] refuses tags and JSON cells nested deeper than
//! [`MAX_JSON_DEPTH`] before it calls a backend, but the backend is a public
//! [`tq_core::StorageBackend`] that can be called directly. A value past the
//! limit would be written fine and then fail every later read (the JSON
//! parser stops at 128 levels), or overflow a stack when serialized (serde
//! recurses once per level). So a put checks every tag and JSON cell first,
//! before anything else, and refuses the whole call with `InvalidArgument`
//! naming the partition, the key and the tag entry or field; and the row
//! writes are always taken apart with loops ([`RowWrites`]), never by
//! `serde_json`'s recursive `Drop`.
//!
//! Everything a put accepts reads back: a tag's entries nest at most
//! [`MAX_JSON_DEPTH`]` - 1` levels (the tag object itself is one more), and
//! the record stores the tag as top-level JSON text with no framing of its
//! own, so the parser sees at most [`MAX_JSON_DEPTH`] levels; a JSON cell
//! is at most [`MAX_JSON_DEPTH`] levels in tq-core's codec. A merged tag is
//! as deep as its deepest entry, which is either from the call (checked) or
//! from a stored tag the parser just read (so it parses again).

use std::ops::Deref;

use tq_core::json::{MAX_JSON_DEPTH, drop_json, drop_tag, json_depth};
use tq_core::{CellWrite, Error, NonTensor, Result, RowWrite, Value};

/// A put's row writes; dropping them never recurses, whatever their depth.
pub(crate) struct RowWrites(Vec<RowWrite>);

impl RowWrites {
    pub fn new(rows: Vec<RowWrite>) -> Self {
        RowWrites(rows)
    }
}

impl Deref for RowWrites {
    type Target = [RowWrite];

    fn deref(&self) -> &[RowWrite] {
        &self.0
    }
}

impl Drop for RowWrites {
    fn drop(&mut self) {
        for row in self.0.drain(..) {
            if let Some(tag) = row.tag {
                drop_tag(tag);
            }
            for (_, cell) in row.cells {
                if let CellWrite::Set(Value::NonTensor(NonTensor::Json(json))) = cell {
                    drop_json(json);
                }
            }
        }
    }
}

/// `InvalidArgument` naming the partition, key and tag entry or field of the
/// first tag or JSON cell nested deeper than [`MAX_JSON_DEPTH`].
pub(crate) fn check_depth(partition: &str, rows: &[RowWrite]) -> Result<()> {
    for row in rows {
        let name = |e: Error| {
            e.with_context("partition", partition)
                .with_context("key", row.key.clone())
        };
        let deep_entry = row
            .tag
            .iter()
            .flatten()
            .find(|(_, v)| json_depth(v) > MAX_JSON_DEPTH - 1);
        if let Some((entry, _)) = deep_entry {
            return Err(name(
                Error::invalid_argument(format!(
                    "tag entry {entry:?} nests arrays and objects more than {MAX_JSON_DEPTH} \
                     levels deep (counting the tag itself)"
                ))
                .with_context("tag_entry", entry.clone()),
            ));
        }
        for (field, value) in row.set_cells() {
            if let Value::NonTensor(NonTensor::Json(json)) = value
                && json_depth(json) > MAX_JSON_DEPTH
            {
                return Err(name(
                    Error::invalid_argument(format!(
                        "the JSON value of field {field:?} nests arrays and objects more than \
                         {MAX_JSON_DEPTH} levels deep"
                    ))
                    .with_context("field", field),
                ));
            }
        }
    }
    Ok(())
}
