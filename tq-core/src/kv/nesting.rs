//! The JSON nesting limit applied to a put's input, before any other check.
//!
//! It runs first because every other rejection drops the caller's values,
//! and dropping a JSON value nested thousands of levels deep recurses once
//! per level: a too-deep input is taken apart with loops instead
//! ([`crate::json`]).

use crate::batch::{Batch, Column};
use crate::error::{Error, Result};
use crate::json::{MAX_JSON_DEPTH, drop_json, drop_tag, json_depth};
use crate::row::Row;
use crate::tag::Tag;
use crate::value::{NonTensor, Value};

/// The error for a tag entry nested too deep (the tag itself counts as one
/// level, so its entries may nest `MAX_JSON_DEPTH - 1` levels).
fn tag_too_deep(tag: &Tag) -> Option<Error> {
    let (entry, _) = tag
        .iter()
        .find(|(_, v)| json_depth(v) > MAX_JSON_DEPTH - 1)?;
    Some(
        Error::invalid_argument(format!(
            "tag entry {entry:?} nests arrays and objects more than {MAX_JSON_DEPTH} levels deep \
             (counting the tag itself)"
        ))
        .with_context("tag_entry", entry.clone()),
    )
}

/// The error for a JSON cell nested too deep.
fn cell_too_deep(field: &str, value: &NonTensor) -> Option<Error> {
    let NonTensor::Json(json) = value else {
        return None;
    };
    (json_depth(json) > MAX_JSON_DEPTH).then(|| {
        Error::invalid_argument(format!(
            "the JSON value of field {field:?} nests arrays and objects more than \
             {MAX_JSON_DEPTH} levels deep"
        ))
        .with_context("field", field)
    })
}

fn dispose_value(value: Value) {
    if let Value::NonTensor(NonTensor::Json(json)) = value {
        drop_json(json);
    }
}

/// Checks a `kv_put`'s row and tag; on failure disposes of both.
pub(super) fn check_row(
    key: &str,
    fields: Option<Row>,
    tag: Option<Tag>,
) -> Result<(Option<Row>, Option<Tag>)> {
    let bad = tag.as_ref().and_then(tag_too_deep).or_else(|| {
        fields.as_ref().and_then(|row| {
            row.iter().find_map(|(field, value)| match value {
                Value::NonTensor(n) => cell_too_deep(field, n),
                Value::Tensor(_) => None,
            })
        })
    });
    let Some(err) = bad else {
        return Ok((fields, tag));
    };
    if let Some(tag) = tag {
        drop_tag(tag);
    }
    for (_, value) in fields.into_iter().flatten() {
        dispose_value(value);
    }
    Err(err.with_context("key", key))
}

/// Checks a `kv_batch_put`'s batch and tags; on failure disposes of both.
/// The error names the first offending key (when the key list is long
/// enough to have one at that position).
pub(super) fn check_batch<K: AsRef<str>>(
    keys: &[K],
    fields: Option<Batch>,
    tags: Option<Vec<Tag>>,
) -> Result<(Option<Batch>, Option<Vec<Tag>>)> {
    let bad_tag = tags.as_ref().and_then(|tags| {
        tags.iter()
            .enumerate()
            .find_map(|(i, tag)| tag_too_deep(tag).map(|e| (i, e)))
    });
    let bad = bad_tag.or_else(|| {
        fields.as_ref().and_then(|batch| {
            batch.columns().find_map(|(field, column)| match column {
                Column::NonTensor(values) => values
                    .iter()
                    .enumerate()
                    .find_map(|(i, v)| cell_too_deep(field, v).map(|e| (i, e))),
                _ => None,
            })
        })
    });
    let Some((row, err)) = bad else {
        return Ok((fields, tags));
    };
    for tag in tags.into_iter().flatten() {
        drop_tag(tag);
    }
    for (_, column) in fields.into_iter().flat_map(Batch::into_columns) {
        if let Column::NonTensor(values) = column {
            values
                .into_iter()
                .for_each(|v| dispose_value(Value::NonTensor(v)));
        }
    }
    let err = err.with_context("row", row.to_string());
    Err(match keys.get(row) {
        Some(key) => err.with_context("key", key.as_ref()),
        None => err,
    })
}
