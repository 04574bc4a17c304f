//! `kv_batch_get` and `kv_batch_get_by_meta` (contract G1-G7).

use std::collections::{HashMap, HashSet};

use super::{KvStore, annotate, assemble, check_count, checked_keys, keys_not_found};
use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::fields::FieldNames;
use crate::meta::KvBatchMeta;
use crate::names::check_field;
use crate::row_write::Cells;
use crate::value::Value;

impl KvStore {
    /// Reads rows as a batch, in the order requested ([contract G1-G6](crate::contract#get)).
    ///
    /// A key may be requested more than once. Every requested key must exist,
    /// else `NotFound` naming the missing keys (no partial batch). With
    /// `select_fields = None` the batch holds the fields every requested key
    /// holds, sorted by name; with `Some(list)`, exactly those fields in that
    /// order, each of which every key must hold (`NotFound` naming key and
    /// field). A tensor field comes back as one
    /// [`TensorColumn`](crate::TensorColumn): one copy of the rows into one
    /// buffer, or none when the backend read the rows back to back into one
    /// buffer ([`Tensor::in_column`](crate::Tensor::in_column); the Redis
    /// backend does for large cells). A get of 8 MiB or more copies on Tokio's blocking threads,
    /// up to 4 fields at once (never on the async worker that polls it);
    /// outside a Tokio runtime it copies inline. `select_fields` takes any
    /// list of strings ([`FieldNames`]): `Some(&["a", "b"])`,
    /// `Some(&names)`.
    pub async fn kv_batch_get<K: AsRef<str> + Sync>(
        &self,
        keys: &[K],
        partition_id: &str,
        select_fields: Option<&dyn FieldNames>,
    ) -> Result<Batch> {
        const OP: &str = "kv_batch_get";
        let select = select_fields.map(FieldNames::field_names);
        self.get(OP, keys, partition_id, select.as_deref())
            .await
            .map_err(|e| e.with_operation(OP))
    }

    /// Reads the rows and fields a [`KvBatchMeta`] names ([contract G7](crate::contract#get)):
    /// `select_fields = None` reads `meta.fields`; `Some(list)` must be a
    /// subset of `meta.fields`, else `InvalidArgument`.
    pub async fn kv_batch_get_by_meta(
        &self,
        meta: &KvBatchMeta,
        select_fields: Option<&dyn FieldNames>,
    ) -> Result<Batch> {
        const OP: &str = "kv_batch_get_by_meta";
        let selected: Vec<&str> = match select_fields.map(FieldNames::field_names) {
            None => meta.fields.iter().map(String::as_str).collect(),
            Some(list) => {
                let known: HashSet<&str> = meta.fields.iter().map(String::as_str).collect();
                let unknown: Vec<&str> = list
                    .iter()
                    .copied()
                    .filter(|f| !known.contains(f))
                    .collect();
                if !unknown.is_empty() {
                    return Err(Error::invalid_argument(format!(
                        "select_fields {unknown:?} not found in meta.fields {:?}",
                        meta.fields
                    ))
                    .with_operation(OP)
                    .with_context("partition", meta.partition_id.clone())
                    .with_context("field", unknown.join(", ")));
                }
                list
            }
        };
        self.get(OP, &meta.keys, &meta.partition_id, Some(&selected))
            .await
            .map_err(|e| e.with_operation(OP))
    }

    async fn get<K: AsRef<str> + Sync>(
        &self,
        op: &'static str,
        keys: &[K],
        partition: &str,
        select: Option<&[&str]>,
    ) -> Result<Batch> {
        let unique = checked_keys(keys, partition, false)?;
        if unique.is_empty() {
            return Err(Error::invalid_argument("the key list is empty")
                .with_context("partition", partition));
        }
        let select: Option<Vec<String>> =
            select.map(|s| checked_fields(s, partition)).transpose()?;
        let fetched = self
            .backend
            .get(partition, &unique, select.as_deref())
            .await
            .map_err(|e| annotate(e, op, Some(partition)))?;
        check_count(&*self.backend, "rows", fetched.len(), unique.len())?;
        let missing: Vec<&str> = unique
            .iter()
            .zip(&fetched)
            .filter(|(_, row)| row.is_none())
            .map(|(k, _)| k.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(keys_not_found(partition, missing));
        }
        let mut rows: Vec<Cells> = fetched.into_iter().flatten().collect();
        let fields = match select {
            Some(fields) => {
                check_rows_hold(&unique, &rows, &fields, partition)?;
                fields
            }
            None => common_fields(&rows),
        };
        // Map each requested key (repeats included) to its fetched row.
        let index: HashMap<&str, usize> = unique
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        let order: Vec<usize> = keys
            .iter()
            .map(|k| index.get(k.as_ref()).copied())
            .collect::<Option<_>>()
            .ok_or_else(|| Error::unexpected("a requested key vanished while assembling"))?;
        // Each row's cells move into the columns' inputs (the columns are
        // built on other threads); only a key asked for twice is cloned.
        let mut uses = vec![0usize; rows.len()];
        for &r in &order {
            uses[r] += 1;
        }
        let mut values: Vec<assemble::FieldValues> = Vec::with_capacity(fields.len());
        for field in fields {
            let mut left = uses.clone();
            let column: Vec<Value> = order
                .iter()
                .map(|&r| {
                    left[r] -= 1;
                    take_cell(&mut rows[r], &field, left[r] == 0)
                })
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    Error::unexpected(format!("field {field:?} vanished while assembling"))
                })?;
            values.push((field, column));
        }
        let mut batch = Batch::new(order.len());
        for (field, column) in assemble::columns(values)
            .await
            .map_err(|e| e.with_context("partition", partition))?
        {
            batch.push_trusted(field, column);
        }
        Ok(batch)
    }
}

fn cell<'a>(row: &'a Cells, field: &str) -> Option<&'a Value> {
    row.iter().find(|(f, _)| f == field).map(|(_, v)| v)
}

/// The value of `field` in `row`: moved out on its `last` use, else a
/// clone (sharing the tensor's buffer).
fn take_cell(row: &mut Cells, field: &str, last: bool) -> Option<Value> {
    let at = row.iter().position(|(f, _)| f == field)?;
    if last {
        Some(row.swap_remove(at).1)
    } else {
        Some(row[at].1.clone())
    }
}

pub(super) fn checked_fields(select: &[&str], partition: &str) -> Result<Vec<String>> {
    let mut seen = HashSet::with_capacity(select.len());
    for field in select {
        check_field(field).map_err(|e| e.with_context("partition", partition))?;
        if !seen.insert(*field) {
            return Err(Error::invalid_argument(format!(
                "field {field:?} appears more than once in select_fields"
            ))
            .with_context("partition", partition)
            .with_context("field", *field));
        }
    }
    Ok(select.iter().map(|f| (*f).to_owned()).collect())
}

fn check_rows_hold(
    keys: &[String],
    rows: &[Cells],
    fields: &[String],
    partition: &str,
) -> Result<()> {
    for (key, row) in keys.iter().zip(rows) {
        if let Some(field) = fields.iter().find(|f| cell(row, f).is_none()) {
            return Err(
                Error::not_found(format!("key {key:?} has no field {field:?}"))
                    .with_context("partition", partition)
                    .with_context("key", key.clone())
                    .with_context("field", field.clone()),
            );
        }
    }
    Ok(())
}

/// The fields every row holds, sorted by name (contract G3).
fn common_fields(rows: &[Cells]) -> Vec<String> {
    let Some((first, rest)) = rows.split_first() else {
        return Vec::new();
    };
    let mut fields: Vec<String> = first
        .iter()
        .map(|(f, _)| f)
        .filter(|f| rest.iter().all(|row| cell(row, f).is_some()))
        .cloned()
        .collect();
    fields.sort_unstable();
    fields.dedup();
    fields
}
