//! `kv_clear` of whole rows ([contract C1-C4](crate::contract#clear)) and of fields ([C5-C6](crate::contract#clear)).

use std::collections::HashSet;

use super::{KvStore, annotate, check_count, checked_keys};
use crate::error::{Error, Result};
use crate::fields::FieldNames;
use crate::names::check_field;
use crate::row_write::{CellWrite, RowWrite};

impl KvStore {
    /// Removes rows, or fields of rows.
    ///
    /// With `fields = None` (contract C1-C4) every field and the tag of each
    /// key go, and the key leaves [`kv_list`](Self::kv_list). With
    /// `Some(list)` (C5-C6) only those fields go: the rows stay, with their
    /// tags and other fields, and keep their place in `kv_list`, even when
    /// no field is left; fields a row lacks are ignored. An empty or
    /// repeated field list is `InvalidArgument`, writing nothing.
    ///
    /// Missing keys and unknown partitions are ignored and an empty key list
    /// does nothing; a repeated key counts once. Returns how many of the
    /// keys named rows that existed: the rows removed (`None`), or the rows
    /// whose listed fields are now gone (`Some`), whether or not they held
    /// any of them.
    ///
    /// Either form is one atomic write per row (a field-level clear is a
    /// row write of [`CellWrite::Remove`] cells), so a concurrent get of a
    /// row sees it before or after, never half-cleared.
    pub async fn kv_clear<K: AsRef<str> + Sync>(
        &self,
        keys: &[K],
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
    ) -> Result<usize> {
        const OP: &str = "kv_clear";
        let fields = fields
            .map(|f| checked_clear_fields(&f.field_names(), partition_id))
            .transpose()
            .map_err(|e| e.with_operation(OP))?;
        let keys = checked_keys(keys, partition_id, false).map_err(|e| e.with_operation(OP))?;
        if keys.is_empty() {
            return Ok(0);
        }
        let Some(fields) = fields else {
            return self
                .backend
                .clear(partition_id, &keys)
                .await
                .map_err(|e| annotate(e, OP, Some(partition_id)));
        };
        let rows: Vec<RowWrite> = keys
            .iter()
            .map(|key| {
                let mut row = RowWrite::new(key.as_str());
                row.cells = fields
                    .iter()
                    .map(|f| (f.clone(), CellWrite::Remove))
                    .collect();
                row
            })
            .collect();
        let states = self
            .backend
            .put(partition_id, rows)
            .await
            .map_err(|e| annotate(e, OP, Some(partition_id)))?;
        check_count(&*self.backend, "row states", states.len(), keys.len())
            .map_err(|e| e.with_operation(OP).with_context("partition", partition_id))?;
        Ok(states.iter().filter(|s| s.existed).count())
    }
}

/// The fields of a field-level clear: at least one, each a valid name, none
/// repeated (contract C5).
fn checked_clear_fields(fields: &[&str], partition: &str) -> Result<Vec<String>> {
    if fields.is_empty() {
        return Err(Error::invalid_argument(
            "the field list is empty; to clear whole rows pass fields = None",
        )
        .with_context("partition", partition));
    }
    let mut seen = HashSet::with_capacity(fields.len());
    for field in fields {
        check_field(field).map_err(|e| e.with_context("partition", partition))?;
        if !seen.insert(*field) {
            return Err(Error::invalid_argument(format!(
                "field {field:?} appears more than once in the fields to clear"
            ))
            .with_context("partition", partition)
            .with_context("field", *field));
        }
    }
    Ok(fields.iter().map(|f| (*f).to_owned()).collect())
}
