//! Conditional writes for `kv_update` (contract U1-U4): a row's version is
//! its insertion sequence `s` with the stamp `v` of its last write
//! ([`crate::write_stamp`]), so a row cleared and put again never gets back
//! an old version (it gets a new `s`). A versioned read is one `HGETALL` (cells, tag, `s`
//! and `v` at one instant; with the row's cell keys in one `MULTI`/`EXEC`
//! when it has some, see [`crate::row_read`]); a conditional write is one `put_row.lua` whose
//! first step compares the version, so the check and the write are atomic
//! on the row's node, also across processes and cluster nodes (a row's
//! keys live in one slot).
//!
//! `WATCH` was the other way: it needs a connection of its own per
//! transaction (a multiplexed connection would share the watch), and a
//! failing guard inside `MULTI` does not abort the rest, so a script it is.
//! Every value of a conditional write passes through Lua (which hashes it);
//! updates write small rows, so that costs little, and ordinary puts pay
//! only the stamp's two arguments.

use async_trait::async_trait;
use redis::Value as RV;
use tq_core::{
    ConditionalBackend, Error, PutIfOutcome, Result, RowVersion, RowWrite, Tag, VersionedRow,
};

use crate::backend::RedisBackend;
use crate::cells::{array, bulk, decode_cell, decode_tag, in_row, split_field, utf8};
use crate::error::bad_reply;
use crate::keys::{CELL_MARK, TAG_MARK};
use crate::row_read::{HashRead, RowAnswer};
use crate::write::parse_state;
use crate::write_stamp::STAMP_FIELD;

#[async_trait]
impl ConditionalBackend for RedisBackend {
    async fn get_versioned(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<VersionedRow>> {
        const OP: &str = "redis::get_versioned";
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let answers = self
            .read_rows(partition, keys, HashRead::All, fields, OP)
            .await
            .map_err(|e| self.redact(e))?;
        keys.iter()
            .zip(answers)
            .map(|(key, answer)| parse_versioned(answer, partition, key, fields))
            .collect::<Result<_>>()
            .map_err(|e| e.with_operation(OP))
    }

    async fn put_if(
        &self,
        partition: &str,
        rows: Vec<(RowWrite, RowVersion)>,
    ) -> Result<Vec<PutIfOutcome>> {
        const OP: &str = "redis::put_if";
        let (rows, expected): (Vec<RowWrite>, Vec<RowVersion>) = rows.into_iter().unzip();
        let rows = self
            .encode_rows(rows, partition)
            .map_err(|e| e.with_operation(OP))?;
        let answers = self
            .send_row_writes(partition, &rows, Some(&expected))
            .await
            .map_err(|e| self.redact(e))?;
        rows.iter()
            .zip(answers)
            .map(|(row, answer)| {
                if is_conflict(&answer) {
                    return Ok(PutIfOutcome::Conflict);
                }
                parse_state(answer, partition, row).map(PutIfOutcome::Written)
            })
            .collect::<Result<_>>()
            .map_err(|e| e.with_operation(OP))
    }
}

/// The version as `put_row.lua` compares it: `0` for a missing row, else
/// `<s>:<v>`.
pub(crate) fn version_text(version: RowVersion) -> String {
    if version.is_absent() {
        return "0".to_owned();
    }
    let v = version.get();
    format!("{}:{}", v >> 64, v & u128::from(u64::MAX))
}

/// Whether the script's answer is `{ {}, {}, -1 }`: the version differed.
fn is_conflict(answer: &RV) -> bool {
    match answer {
        RV::Array(items) => matches!(items.get(2), Some(RV::Int(-1))),
        _ => false,
    }
}

/// A decimal counter stored by the scripts, or `Corrupted`.
fn counter(bytes: &[u8], what: &str, partition: &str, key: &str) -> Result<u64> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            in_row(
                Error::corrupted(format!("a row's {what} is not a number")),
                partition,
                key,
            )
        })
}

/// `HGETALL` of a row: its version, the cells asked for and its tag.
fn parse_versioned(
    answer: RowAnswer,
    partition: &str,
    key: &str,
    fields: Option<&[String]>,
) -> Result<VersionedRow> {
    let bad = || bad_reply("HGETALL answer", "redis::get_versioned");
    let items = array(answer.reply).ok_or_else(bad)?;
    let (mut seq, mut stamp) = (None, 0u64);
    let mut cells = answer.keyed;
    let mut tags = Vec::new();
    let mut it = items.into_iter();
    while let (Some(name), Some(value)) = (it.next(), it.next()) {
        let (Some(name), Some(value)) = (bulk(name), bulk(value)) else {
            return Err(bad());
        };
        if name == crate::keys::SEQ_FIELD {
            seq = Some(counter(&value, "insertion sequence", partition, key)?);
        } else if name == STAMP_FIELD {
            stamp = counter(&value, "write stamp", partition, key)?;
        } else if name.first() == Some(&TAG_MARK) {
            tags.push(RV::BulkString(name));
            tags.push(RV::BulkString(value));
        } else if let Some((CELL_MARK, field)) = split_field(name) {
            let field = utf8(field, "field name").map_err(|e| in_row(e, partition, key))?;
            if fields.is_none_or(|want| want.contains(&field)) {
                let value = decode_cell(value, partition, key, &field)?;
                cells.push((field, value));
            }
        }
    }
    let Some(seq) = seq else {
        return Ok(VersionedRow::absent());
    };
    if let Some(want) = fields {
        // In the order asked for, as a get returns them.
        cells.sort_by_key(|(f, _)| want.iter().position(|w| w == f));
    }
    let tag: Tag = decode_tag(tags, partition, key, None)?;
    let version = RowVersion::new((u128::from(seq) << 64) | u128::from(stamp));
    Ok(VersionedRow::new(version, cells, tag))
}
