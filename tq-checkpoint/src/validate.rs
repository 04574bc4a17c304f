//! The checks a put would make, applied to a checkpoint's rows before the
//! load writes any: the load writes through the backend directly (one call
//! per batch of rows of any shape), so it must not let through what
//! `KvStore` would refuse.

use std::collections::HashSet;

use tq_core::json::{MAX_JSON_DEPTH, json_depth};
use tq_core::names::{check_field, check_key, check_partition};
use tq_core::{Error, NonTensor, Result, Value, codec};

use crate::record::RowRecord;

/// What the rows of one partition must share: distinct keys.
#[derive(Debug, Default)]
pub struct PartitionCheck {
    keys: HashSet<String>,
}

impl PartitionCheck {
    /// Checks the partition name.
    pub fn new(partition: &str) -> Result<Self> {
        check_partition(partition).map_err(|e| e.with_context("partition", partition))?;
        Ok(PartitionCheck::default())
    }

    /// Checks one row: its names, its JSON nesting, its values' sizes
    /// against the target backend's limit, and that its key is new.
    /// Failures are `Corrupted`: a checkpoint a store could not have
    /// written.
    pub fn check_row(&mut self, row: &RowRecord, max_value_bytes: Option<u64>) -> Result<()> {
        check_row(row, max_value_bytes).map_err(|e| corrupted(e, &row.key))?;
        if !self.keys.insert(row.key.clone()) {
            return Err(Error::corrupted(format!("key {:?} appears twice", row.key))
                .with_context("key", row.key.clone()));
        }
        Ok(())
    }
}

fn check_row(row: &RowRecord, max_value_bytes: Option<u64>) -> Result<()> {
    check_key(&row.key)?;
    if let Some((name, _)) = row
        .tag
        .iter()
        .find(|(_, v)| json_depth(v) > MAX_JSON_DEPTH - 1)
    {
        return Err(Error::invalid_argument(format!(
            "tag entry {name:?} nests deeper than {MAX_JSON_DEPTH} levels"
        )));
    }
    let mut fields = HashSet::with_capacity(row.cells.len());
    for (field, value) in &row.cells {
        check_field(field)?;
        if !fields.insert(field.as_str()) {
            return Err(Error::invalid_argument(format!(
                "field {field:?} appears twice"
            )));
        }
        if let Value::NonTensor(NonTensor::Json(j)) = value
            && json_depth(j) > MAX_JSON_DEPTH
        {
            return Err(Error::invalid_argument(format!(
                "field {field:?} nests deeper than {MAX_JSON_DEPTH} levels"
            )));
        }
        if let Some(limit) = max_value_bytes {
            let len = codec::encoded_len(value) as u64;
            if len > limit {
                return Err(Error::new(
                    tq_core::ErrorKind::CapacityExceeded,
                    format!(
                        "field {field:?} encodes to {len} bytes, the target backend takes at most {limit}"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A rule a put enforces, broken by a checkpoint row: `Corrupted`, except a
/// value too large for this target, which stays `CapacityExceeded`.
fn corrupted(e: Error, key: &str) -> Error {
    let e = match e.kind() {
        tq_core::ErrorKind::CapacityExceeded => e,
        _ => Error::corrupted(format!(
            "row {key:?} breaks a rule of the store: {}",
            e.message()
        )),
    };
    e.with_context("key", key)
}
