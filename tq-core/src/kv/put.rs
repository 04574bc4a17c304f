//! `kv_put` and `kv_batch_put` ([contract P1-P9](crate::contract#put)).

use std::collections::HashSet;

use super::{KvStore, annotate, check_count, checked_keys, nesting};
use crate::batch::Batch;
use crate::codec;
use crate::error::{Error, Result};
use crate::meta::KvBatchMeta;
use crate::names::{check_field, check_key, check_partition};
use crate::row::Row;
use crate::row_write::{CellWrite, RowState, RowWrite};
use crate::tag::Tag;

impl KvStore {
    /// Inserts or updates one row ([contract P1-P7](crate::contract#put)): each given field replaces that
    /// field's value, other fields are kept; `tag` is shallow-merged into the
    /// row's tag. Fails with `InvalidArgument`, writing nothing, when both
    /// `fields` and `tag` are `None` (or `fields` is empty and `tag` is `None`),
    /// when a name breaks its limits, when the tag or a JSON value nests
    /// deeper than [`MAX_JSON_DEPTH`](crate::json::MAX_JSON_DEPTH), or when
    /// a value's encoding exceeds the backend's `max_value_bytes` (that one is
    /// `CapacityExceeded`).
    pub async fn kv_put(
        &self,
        key: &str,
        partition_id: &str,
        fields: Option<Row>,
        tag: Option<Tag>,
    ) -> Result<KvBatchMeta> {
        const OP: &str = "kv_put";
        let (fields, tag) = nesting::check_row(key, fields, tag)
            .map_err(|e| e.with_context("partition", partition_id).with_operation(OP))?;
        let row = check_put(key, partition_id, fields, tag).map_err(|e| e.with_operation(OP))?;
        self.write(OP, partition_id, vec![row]).await
    }

    /// Inserts or updates many rows in one backend call (contract P1-P9).
    ///
    /// `fields` has one row per key: dense tensor columns are split into rows
    /// with `Bytes::slice` (no copy), jagged columns give each row its tensor.
    /// `tags`, if given, has one tag per key. Every argument is checked
    /// before anything is written: an empty or repeated key, a batch or tag
    /// list whose length is not `keys.len()`, a bad name, neither fields
    /// nor tags, a tag or JSON value nested deeper than
    /// [`MAX_JSON_DEPTH`](crate::json::MAX_JSON_DEPTH) is `InvalidArgument`,
    /// and a value over the backend's `max_value_bytes` `CapacityExceeded`,
    /// each naming the key and field.
    pub async fn kv_batch_put<K: AsRef<str> + Sync>(
        &self,
        keys: &[K],
        partition_id: &str,
        fields: Option<Batch>,
        tags: Option<Vec<Tag>>,
    ) -> Result<KvBatchMeta> {
        const OP: &str = "kv_batch_put";
        let (fields, tags) = nesting::check_batch(keys, fields, tags)
            .map_err(|e| e.with_context("partition", partition_id).with_operation(OP))?;
        let rows =
            check_batch_put(keys, partition_id, fields, tags).map_err(|e| e.with_operation(OP))?;
        self.write(OP, partition_id, rows).await
    }

    async fn write(
        &self,
        op: &'static str,
        partition: &str,
        rows: Vec<RowWrite>,
    ) -> Result<KvBatchMeta> {
        if let Some(limit) = self.backend.capabilities().max_value_bytes {
            check_value_sizes(&rows, limit, self.backend.name())
                .map_err(|e| e.with_operation(op).with_context("partition", partition))?;
        }
        let keys: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
        let states = self
            .backend
            .put(partition, rows)
            .await
            .map_err(|e| annotate(e, op, Some(partition)))?;
        check_count(&*self.backend, "row states", states.len(), keys.len())
            .map_err(|e| e.with_operation(op).with_context("partition", partition))?;
        Ok(meta_from_states(keys, partition, states))
    }
}

/// Refuses, before the backend sees it, any cell whose encoding exceeds the
/// backend's `max_value_bytes` (Capabilities): `CapacityExceeded`, as the
/// backends themselves answer.
pub(super) fn check_value_sizes<'a>(
    rows: impl IntoIterator<Item = &'a RowWrite>,
    limit: u64,
    backend: &str,
) -> Result<()> {
    for row in rows {
        for (field, value) in row.set_cells() {
            let len = codec::encoded_len(value) as u64;
            if len > limit {
                return Err(Error::new(
                    crate::error::ErrorKind::CapacityExceeded,
                    format!(
                        "the value of field {field:?} encodes to {len} bytes; backend {backend} \
                     takes at most {limit} per value; nothing was written"
                    ),
                )
                .with_context("key", row.key.clone())
                .with_context("field", field));
            }
        }
    }
    Ok(())
}

pub(super) fn check_put(
    key: &str,
    partition: &str,
    fields: Option<Row>,
    tag: Option<Tag>,
) -> Result<RowWrite> {
    check_partition(partition)?;
    check_key(key).map_err(|e| e.with_context("partition", partition))?;
    let mut row = RowWrite::new(key);
    row.cells = fields
        .into_iter()
        .flatten()
        .map(|(field, value)| (field, CellWrite::Set(value)))
        .collect();
    for (field, _) in &row.cells {
        check_field(field).map_err(|e| {
            e.with_context("partition", partition)
                .with_context("key", key)
        })?;
    }
    if row.cells.is_empty() && tag.is_none() {
        return Err(
            Error::invalid_argument("a put needs fields or a tag, got neither")
                .with_context("partition", partition)
                .with_context("key", key),
        );
    }
    row.tag = tag;
    Ok(row)
}

fn check_batch_put<K: AsRef<str>>(
    keys: &[K],
    partition: &str,
    fields: Option<Batch>,
    tags: Option<Vec<Tag>>,
) -> Result<Vec<RowWrite>> {
    let keys = checked_keys(keys, partition, true)?;
    let n = keys.len();
    let invalid = |msg: String| Error::invalid_argument(msg).with_context("partition", partition);
    if n == 0 {
        return Err(invalid("the key list is empty".into()));
    }
    if let Some(batch) = &fields {
        if batch.num_rows() != n {
            return Err(invalid(format!(
                "the batch has {} rows for {n} keys",
                batch.num_rows()
            )));
        }
        for field in batch.field_names() {
            check_field(field).map_err(|e| e.with_context("partition", partition))?;
        }
    }
    if let Some(tags) = &tags
        && tags.len() != n
    {
        return Err(invalid(format!(
            "{} tags were given for {n} keys",
            tags.len()
        )));
    }
    let has_fields = fields.as_ref().is_some_and(|b| b.num_columns() > 0);
    if !has_fields && tags.is_none() {
        return Err(invalid("a put needs fields or tags, got neither".into()));
    }

    let mut rows: Vec<RowWrite> = keys.into_iter().map(RowWrite::new).collect();
    if let Some(batch) = fields {
        for (field, column) in batch.into_columns() {
            for (row, value) in rows.iter_mut().zip(column.into_values()) {
                row.cells.push((field.clone(), CellWrite::Set(value)));
            }
        }
    }
    if let Some(tags) = tags {
        for (row, tag) in rows.iter_mut().zip(tags) {
            row.tag = Some(tag);
        }
    }
    Ok(rows)
}

/// The meta of a put: keys in call order, full tags, and the fields every key
/// now holds, sorted (contract P7).
pub(super) fn meta_from_states(
    keys: Vec<String>,
    partition: &str,
    states: Vec<RowState>,
) -> KvBatchMeta {
    let mut fields: Vec<String> = match states.split_first() {
        None => Vec::new(),
        Some((first, rest)) => {
            let others: Vec<HashSet<&str>> = rest
                .iter()
                .map(|s| s.fields.iter().map(String::as_str).collect())
                .collect();
            first
                .fields
                .iter()
                .filter(|f| others.iter().all(|o| o.contains(f.as_str())))
                .cloned()
                .collect()
        }
    };
    fields.sort_unstable();
    fields.dedup();
    KvBatchMeta {
        keys,
        tags: states.into_iter().map(|s| s.tag).collect(),
        partition_id: partition.to_owned(),
        fields,
        extra_info: Default::default(),
    }
}
