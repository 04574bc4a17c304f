//! Rows as Redis hash fields: encoding a [`RowWrite`] into script arguments
//! (with size checks done before anything is sent) and decoding replies.

use bytes::Bytes;
use redis::Value as RV;
use tq_core::{CellWrite, Error, ErrorKind, NonTensor, Result, RowWrite, Tag, Value, codec};

use crate::keys::{CELL_MARK, TAG_MARK, cell_field, tag_field};
use crate::wire::Command;

/// The deepest JSON nesting (arrays and objects; a scalar is 0) this
/// backend stores in a JSON cell or in one tag entry: what it can read
/// back (serde_json's parser stops at 128 levels). A put of anything
/// deeper is `InvalidArgument` before anything is written. tq-core's
/// `KvStore` has a lower limit of its own (64 levels, the tag object
/// counting as one), so through it this one never triggers.
pub const MAX_JSON_DEPTH: usize = 127;

/// Whether `value` nests arrays and objects more than `max` levels deep.
/// Iterative (no recursion, whatever the depth) and stops at the first
/// value below the limit.
pub fn json_deeper_than(value: &serde_json::Value, max: usize) -> bool {
    use serde_json::Value as J;
    let mut stack: Vec<(&J, usize)> = vec![(value, 0)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &J>> = match v {
            J::Array(items) => Box::new(items.iter()),
            J::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth + 1 > max {
            return true;
        }
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    false
}

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

impl FieldValue {
    /// Appends this value as one argument of `cmd`; a cell's payload is
    /// shared, not copied.
    pub fn write_to(&self, cmd: &mut Command) {
        match self {
            FieldValue::Cell { header, payload } => cmd.arg_parts(header, payload),
            FieldValue::Json(j) => cmd.arg(j),
        };
    }
}

/// A row write as hash field / value pairs.
#[derive(Debug)]
pub struct EncodedRow {
    /// The row's key.
    pub key: String,
    /// `f<field>` / cell and `t<name>` / JSON pairs.
    pub pairs: Vec<(Vec<u8>, FieldValue)>,
    /// `f<field>` names of the cells to remove (contract C5).
    pub removed: Vec<Vec<u8>>,
    /// Whether the write creates the row when it is missing
    /// ([`RowWrite::creates`]).
    pub creates: bool,
    /// The tag entries written (also in `pairs`), so that the put's answer
    /// never has to decode what it just wrote.
    pub tag: Tag,
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
    let too_deep = |what: String| {
        Error::invalid_argument(format!(
            "{what} of key {:?} is JSON nested more than {MAX_JSON_DEPTH} levels deep, more \
             than this backend can read back; nothing was written",
            row.key
        ))
        .with_context("partition", partition)
        .with_context("key", row.key.clone())
    };
    // Check every value before encoding any (serializing very deep JSON
    // recurses).
    for (field, cell) in &row.cells {
        if let CellWrite::Set(Value::NonTensor(NonTensor::Json(j))) = cell
            && json_deeper_than(j, MAX_JSON_DEPTH)
        {
            return Err(too_deep(format!("field {field:?}")).with_context("field", field.clone()));
        }
    }
    if let Some(tag) = &row.tag {
        for (name, v) in tag {
            if json_deeper_than(v, MAX_JSON_DEPTH) {
                return Err(
                    too_deep(format!("tag entry {name:?}")).with_context("tag", name.clone())
                );
            }
        }
    }
    let mut removed = Vec::new();
    for (field, cell) in &row.cells {
        let value = match cell {
            CellWrite::Set(value) => value,
            CellWrite::Remove => {
                removed.push(cell_field(field));
                continue;
            }
            other => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("the redis backend does not know the cell write {other:?}"),
                )
                .with_context("partition", partition)
                .with_context("key", row.key.clone())
                .with_context("field", field.clone()));
            }
        };
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
    let creates = row.creates();
    Ok(EncodedRow {
        key: row.key,
        pairs,
        removed,
        creates,
        tag: row.tag.unwrap_or_default(),
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

/// A UTF-8 name stored by this backend, or `Corrupted` showing it (lossily).
pub fn utf8(b: Vec<u8>, what: &str) -> Result<String> {
    String::from_utf8(b).map_err(|e| {
        Error::corrupted(format!(
            "a stored {what} is not UTF-8: {:?}",
            String::from_utf8_lossy(e.as_bytes())
        ))
    })
}

/// `e` naming the row it is about.
pub fn in_row(e: Error, partition: &str, key: &str) -> Error {
    e.with_context("partition", partition)
        .with_context("key", key)
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

/// Decodes `t<name>` / JSON pairs into the tag of row `key`. After a put,
/// `written` holds the entries it wrote: they are taken from it, not
/// decoded, and an entry stored before that does not decode is reported as
/// such (the put itself was applied). Errors are `Corrupted` naming the
/// partition, the key and the tag entry.
pub fn decode_tag(flat: Vec<RV>, partition: &str, key: &str, written: Option<&Tag>) -> Result<Tag> {
    let after_put = if written.is_some() {
        "the put was written, but "
    } else {
        ""
    };
    let mut tag = Tag::new();
    let mut it = flat.into_iter();
    while let (Some(name), Some(value)) = (it.next(), it.next()) {
        let (Some(name), Some(value)) = (bulk(name), bulk(value)) else {
            return Err(in_row(
                Error::corrupted(format!("{after_put}a stored tag entry is not a string")),
                partition,
                key,
            ));
        };
        let name = utf8(name.get(1..).unwrap_or_default().to_vec(), "tag entry name")
            .map_err(|e| in_row(e, partition, key))?;
        if let Some(v) = written.and_then(|w| w.get(&name)) {
            tag.insert(name, v.clone());
            continue;
        }
        let value: serde_json::Value = serde_json::from_slice(&value).map_err(|e| {
            in_row(
                Error::corrupted(format!(
                    "{after_put}the stored tag entry {name:?} of key {key:?} is not JSON; \
                     clearing the row removes it"
                )),
                partition,
                key,
            )
            .with_context("tag", name.clone())
            .with_source(e)
        })?;
        tag.insert(name, value);
    }
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(depth: usize) -> serde_json::Value {
        let mut v = json!(1);
        for i in 0..depth {
            v = if i % 2 == 0 {
                json!([v])
            } else {
                json!({ "a": v })
            };
        }
        v
    }

    #[test]
    fn depth_counts_containers() {
        assert!(!json_deeper_than(&json!(1), 0));
        assert!(json_deeper_than(&json!([]), 0));
        assert!(!json_deeper_than(&json!([1, {"a": 2}]), 2));
        assert!(json_deeper_than(&json!([1, {"a": [2]}]), 2));
        assert!(!json_deeper_than(&nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH));
        assert!(json_deeper_than(
            &nested(MAX_JSON_DEPTH + 1),
            MAX_JSON_DEPTH
        ));
    }

    #[test]
    fn the_limit_is_what_decodes() {
        let text = serde_json::to_vec(&nested(MAX_JSON_DEPTH)).unwrap();
        assert!(serde_json::from_slice::<serde_json::Value>(&text).is_ok());
        let text = serde_json::to_vec(&nested(MAX_JSON_DEPTH + 1)).unwrap();
        assert!(serde_json::from_slice::<serde_json::Value>(&text).is_err());
    }
}
