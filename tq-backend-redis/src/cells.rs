//! Rows as Redis hash fields: encoding a [`RowWrite`] into script arguments
//! (with size checks done before anything is sent) and decoding replies.

use std::io::Write;

use bytes::Bytes;
use redis::{RedisWrite, ToRedisArgs, Value as RV};
use tq_core::{Error, ErrorKind, Result, RowWrite, Tag, Value, codec};

use crate::keys::{CELL_MARK, TAG_MARK, cell_field, tag_field};

/// One hash-field value: a cell in the codec's layout (header and payload
/// written straight into the command, no intermediate buffer), or JSON text.
#[derive(Debug)]
pub enum FieldValue {
    /// A cell: codec header and payload.
    Cell {
        /// The codec header.
        header: Vec<u8>,
        /// The payload (shares a tensor's or raw bytes' buffer).
        payload: Bytes,
    },
    /// A tag entry's JSON text.
    Json(Vec<u8>),
}

impl FieldValue {
    /// The number of bytes sent to Redis.
    pub fn len(&self) -> usize {
        match self {
            FieldValue::Cell { header, payload } => header.len() + payload.len(),
            FieldValue::Json(j) => j.len(),
        }
    }
}

impl ToRedisArgs for FieldValue {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + RedisWrite,
    {
        match self {
            FieldValue::Cell { header, payload } => {
                let mut w = out.writer_for_next_arg();
                // Writing into the command's own buffer cannot fail.
                let _ = w.write_all(header);
                let _ = w.write_all(payload);
            }
            FieldValue::Json(j) => out.write_arg(j),
        }
    }
}

/// A row write as hash field / value pairs.
#[derive(Debug)]
pub struct EncodedRow {
    /// The row's key.
    pub key: String,
    /// `f<field>` / cell and `t<name>` / JSON pairs.
    pub pairs: Vec<(Vec<u8>, FieldValue)>,
}

/// Encodes `row`, checking every value against `max_bulk` (the server's
/// `proto-max-bulk-len`) and the whole command against `max_command`.
pub fn encode_row(
    row: RowWrite,
    partition: &str,
    max_bulk: u64,
    max_command: u64,
) -> Result<EncodedRow> {
    let mut pairs = Vec::with_capacity(row.cells.len() + row.tag.as_ref().map_or(0, Tag::len));
    let mut total: u64 = 0;
    for (field, value) in &row.cells {
        let header = codec::encode_header(value);
        let payload = codec::encode_payload(value);
        let fv = FieldValue::Cell { header, payload };
        let len = fv.len() as u64;
        if len > max_bulk {
            return Err(Error::new(
                ErrorKind::CapacityExceeded,
                format!(
                    "field {field:?} of key {:?} encodes to {len} bytes, more than the Redis \
                     server accepts in one value (proto-max-bulk-len = {max_bulk}); nothing \
                     was written",
                    row.key
                ),
            )
            .with_context("partition", partition)
            .with_context("key", row.key.clone())
            .with_context("field", field.clone()));
        }
        total += len;
        pairs.push((cell_field(field), fv));
    }
    if let Some(tag) = &row.tag {
        for (name, v) in tag {
            // Serializing a serde_json::Value cannot fail.
            let json = serde_json::to_vec(v).unwrap_or_default();
            total += json.len() as u64;
            pairs.push((tag_field(name), FieldValue::Json(json)));
        }
    }
    if total > max_command {
        return Err(Error::new(
            ErrorKind::CapacityExceeded,
            format!(
                "key {:?} writes {total} bytes in one put, more than the Redis server accepts \
                 in one command (client-query-buffer-limit = {max_command}); split the fields \
                 over several puts; nothing was written",
                row.key
            ),
        )
        .with_context("partition", partition)
        .with_context("key", row.key.clone()));
    }
    Ok(EncodedRow {
        key: row.key,
        pairs,
    })
}

/// The bytes of a bulk-string reply.
pub fn bulk(v: RV) -> Option<Vec<u8>> {
    match v {
        RV::BulkString(b) => Some(b),
        RV::SimpleString(s) => Some(s.into_bytes()),
        RV::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

/// The items of an array reply (RESP2 array or RESP3 set/map flattened).
pub fn array(v: RV) -> Option<Vec<RV>> {
    match v {
        RV::Array(items) | RV::Set(items) => Some(items),
        RV::Map(pairs) => Some(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()),
        RV::Nil => Some(Vec::new()),
        _ => None,
    }
}

/// A UTF-8 name stored by this backend, or `Corrupted`.
pub fn utf8(b: Vec<u8>, what: &str) -> Result<String> {
    String::from_utf8(b).map_err(|_| Error::corrupted(format!("a stored {what} is not UTF-8")))
}

/// Decodes a stored cell of `field` in row `key`.
pub fn decode_cell(bytes: Vec<u8>, partition: &str, key: &str, field: &str) -> Result<Value> {
    codec::decode(Bytes::from(bytes)).map_err(|e| {
        e.with_context("partition", partition)
            .with_context("key", key)
            .with_context("field", field)
    })
}

/// Splits a hash field name into its kind mark and name.
pub fn split_field(name: Vec<u8>) -> Option<(u8, Vec<u8>)> {
    let (&mark, _) = name.split_first()?;
    (mark == CELL_MARK || mark == TAG_MARK).then(|| (mark, name[1..].to_vec()))
}

/// Decodes `t<name>` / JSON pairs into a tag.
pub fn decode_tag(flat: Vec<RV>, partition: &str, key: &str) -> Result<Tag> {
    let mut tag = Tag::new();
    let mut it = flat.into_iter();
    while let (Some(name), Some(value)) = (it.next(), it.next()) {
        let (Some(name), Some(value)) = (bulk(name), bulk(value)) else {
            return Err(Error::corrupted("a tag entry is not a string"));
        };
        let name = utf8(name.get(1..).unwrap_or_default().to_vec(), "tag name")?;
        let value: serde_json::Value = serde_json::from_slice(&value).map_err(|e| {
            Error::corrupted(format!("tag entry {name:?} is not JSON"))
                .with_context("partition", partition)
                .with_context("key", key)
                .with_source(e)
        })?;
        tag.insert(name, value);
    }
    Ok(tag)
}
