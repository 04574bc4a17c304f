//! The row record of a data object (docs/CHECKPOINT_FORMAT.md, "Data
//! objects"): how one row is laid out, and a decoder that takes the object's
//! bytes in chunks of any size, so a load never holds more than one row
//! beyond the chunk it is reading.

use bytes::{Buf, Bytes};

use crate::chunks::Chunks;
use tq_core::{Error, Result, Tag, Value, codec};

/// The first 8 bytes of every data object: a magic and the format version.
pub const OBJECT_MAGIC: [u8; 8] = *b"TQCKROW1";

/// One row as a checkpoint stores it: key, whole tag, every cell.
#[derive(Debug, Clone, PartialEq)]
pub struct RowRecord {
    /// The row's key.
    pub key: String,
    /// The row's tag (`{}` for a row created without one).
    pub tag: Tag,
    /// Field name and value of every cell the row holds.
    pub cells: Vec<(String, Value)>,
}

/// Appends the record of one row to `out`. A tag whose JSON is 4 GiB or
/// more has no record (its length is a u32): `InvalidData` naming the key.
pub fn encode_row(
    key: &str,
    tag: &Tag,
    cells: &[(String, Value)],
    out: &mut Vec<u8>,
) -> Result<()> {
    put_str(out, key);
    // Serializing a map of JSON values cannot fail (all keys are strings).
    let tag = serde_json::to_vec(tag).unwrap_or_default();
    if u32::try_from(tag.len()).is_err() {
        return Err(Error::invalid_data(format!(
            "the tag of key {key:?} is {} bytes of JSON, more than a checkpoint record holds",
            tag.len()
        ))
        .with_context("key", key));
    }
    put_bytes32(out, &tag);
    put_u32(out, cells.len());
    for (field, value) in cells {
        put_str(out, field);
        out.extend_from_slice(&(codec::encoded_len(value) as u64).to_le_bytes());
        codec::encode_into(value, out);
    }
    Ok(())
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    // Names are at most 4096 bytes and cells per row far fewer than 2^32;
    // `encode_row` refuses a tag of 4 GiB or more.
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn put_bytes32(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes32(out, s.as_bytes());
}

/// Decodes row records from an object's bytes fed in chunks.
///
/// Every length is checked against the bytes the object has left
/// (`remaining`, known from the manifest), so a damaged length is
/// `Corrupted` at once instead of a wait for bytes that never come.
#[derive(Debug)]
pub struct RowDecoder {
    buf: Chunks,
    /// Bytes of the object not yet fed.
    unfed: u64,
    header_seen: bool,
    /// Copy values to 8-aligned buffers (see [`aligned`]); off for rows
    /// only checked and dropped, where the copy would be wasted.
    align: bool,
}

impl RowDecoder {
    /// A decoder for an object of `size` bytes.
    pub fn new(size: u64) -> Self {
        RowDecoder {
            buf: Chunks::default(),
            unfed: size,
            header_seen: false,
            align: true,
        }
    }

    /// Leaves values where they lie in the read buffer, aligned or not:
    /// for rows that are only checked, never stored.
    pub fn unaligned(mut self) -> Self {
        self.align = false;
        self
    }

    /// Adds the next chunk of the object.
    pub fn feed(&mut self, chunk: Bytes) -> Result<()> {
        let len = chunk.len() as u64;
        if len > self.unfed {
            return Err(Error::corrupted(
                "the object is longer than the manifest says",
            ));
        }
        self.unfed -= len;
        self.buf.push(chunk);
        Ok(())
    }

    /// Whether every byte was fed and decoded.
    pub fn is_done(&self) -> bool {
        self.unfed == 0 && self.buf.is_empty() && self.header_seen
    }

    /// The next complete row, `None` if more bytes are needed (or the object
    /// is done: see [`RowDecoder::is_done`]).
    pub fn next_row(&mut self) -> Result<Option<RowRecord>> {
        if !self.header_seen {
            if self.buf.len() < OBJECT_MAGIC.len() {
                return self.need(OBJECT_MAGIC.len() as u64);
            }
            if self.buf.take(OBJECT_MAGIC.len())[..] != OBJECT_MAGIC {
                return Err(Error::corrupted(
                    "the object does not start with the data-object magic TQCKROW1",
                ));
            }
            self.header_seen = true;
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        let Some(len) = self.record_len()? else {
            return Ok(None);
        };
        let record = self.buf.take(len);
        parse_record(record, self.align).map(Some)
    }

    /// `Ok(None)` while `need` more bytes may still come; `Corrupted` when
    /// the object cannot hold them.
    fn need<T>(&self, need: u64) -> Result<Option<T>> {
        if need > self.buf.len() as u64 + self.unfed {
            return Err(Error::corrupted(format!(
                "a record needs {need} bytes, the object has {} left",
                self.buf.len() as u64 + self.unfed
            )));
        }
        Ok(None)
    }

    /// The length of the record at the front of the buffer, once all of it
    /// is there.
    fn record_len(&self) -> Result<Option<usize>> {
        let mut at: u64 = 0;
        // key, tag
        for _ in 0..2 {
            let Some(n) = self.read_u32_at(at)? else {
                return Ok(None);
            };
            at += 4 + n;
        }
        let Some(cells) = self.read_u32_at(at)? else {
            return Ok(None);
        };
        at += 4;
        for _ in 0..cells {
            let Some(field) = self.read_u32_at(at)? else {
                return Ok(None);
            };
            at += 4 + field;
            let Some(value) = self.read_u64_at(at)? else {
                return Ok(None);
            };
            at = at.saturating_add(8).saturating_add(value);
        }
        if at > self.buf.len() as u64 {
            return self.need(at);
        }
        // `at` is within the buffer, so it fits usize.
        Ok(Some(at as usize))
    }

    fn read_u32_at(&self, at: u64) -> Result<Option<u64>> {
        Ok(self
            .read_at::<4>(at)?
            .map(|b| u64::from(u32::from_le_bytes(b))))
    }

    fn read_u64_at(&self, at: u64) -> Result<Option<u64>> {
        Ok(self.read_at::<8>(at)?.map(u64::from_le_bytes))
    }

    fn read_at<const N: usize>(&self, at: u64) -> Result<Option<[u8; N]>> {
        let end = at.saturating_add(N as u64);
        if end > self.buf.len() as u64 {
            return self.need(end);
        }
        let mut out = [0u8; N];
        // Both bounds are within the buffer (checked above).
        match self.buf.copy_at(at as usize, &mut out) {
            Some(()) => Ok(Some(out)),
            None => self.need(end),
        }
    }
}

/// Parses one whole record (its length already checked).
fn parse_record(mut rec: Bytes, align: bool) -> Result<RowRecord> {
    let key = take_str(&mut rec, "key")?;
    let tag_bytes = take32(&mut rec);
    let tag: Tag = serde_json::from_slice(&tag_bytes).map_err(|e| {
        Error::corrupted("the tag is not a JSON object")
            .with_context("key", key.clone())
            .with_source(e)
    })?;
    let n = rec.get_u32_le() as usize;
    let mut cells = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let field = take_str(&mut rec, "field").map_err(|e| e.with_context("key", key.clone()))?;
        let len = rec.get_u64_le() as usize;
        let bytes = rec.split_to(len);
        let bytes = if align { aligned(bytes) } else { bytes };
        let value = codec::decode(bytes).map_err(|e| {
            e.with_context("key", key.clone())
                .with_context("field", field.clone())
        })?;
        cells.push((field, value));
    }
    Ok(RowRecord { key, tag, cells })
}

/// `bytes`, copied to an 8-aligned buffer of its own. Records lie at any
/// offset of the read buffers, but typed tensor views borrow only aligned
/// bytes; the codec's header is a multiple of 8 bytes, so a value starting
/// 8-aligned has its tensor payload aligned for every dtype. Copied even
/// when already aligned: a stored slice of the read buffer would keep the
/// whole buffer alive (measured: a 2.1 GB load held 4.9 GB).
fn aligned(bytes: Bytes) -> Bytes {
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
    Bytes::from_owner(Words {
        len: bytes.len(),
        words,
    })
}

/// A byte buffer allocated as u64 words, hence 8-aligned.
struct Words {
    words: Vec<u64>,
    len: usize,
}

impl AsRef<[u8]> for Words {
    fn as_ref(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.words)[..self.len]
    }
}

fn take32(rec: &mut Bytes) -> Bytes {
    let n = rec.get_u32_le() as usize;
    rec.split_to(n)
}

fn take_str(rec: &mut Bytes, what: &str) -> Result<String> {
    String::from_utf8(take32(rec).to_vec())
        .map_err(|e| Error::corrupted(format!("a {what} is not UTF-8")).with_source(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tq_core::serde_json::json;
    use tq_core::{Tensor, tag};

    fn object_of_two_rows() -> Vec<u8> {
        let mut out = OBJECT_MAGIC.to_vec();
        let cells = vec![
            (
                "t".to_owned(),
                Value::from(Tensor::from_vec(vec![1i32, 2, 3], [3]).unwrap()),
            ),
            ("j".to_owned(), Value::from(json!({"a": [1, 2]}))),
        ];
        encode_row("k1", &tag! {"s" => "new"}, &cells, &mut out).unwrap();
        encode_row("k2", &Tag::new(), &[], &mut out).unwrap();
        out
    }

    fn decode_in_chunks(object: &[u8], chunk: usize) -> Result<Vec<RowRecord>> {
        let mut decoder = RowDecoder::new(object.len() as u64);
        let mut rows = Vec::new();
        for piece in object.chunks(chunk) {
            decoder.feed(Bytes::copy_from_slice(piece))?;
            while let Some(row) = decoder.next_row()? {
                rows.push(row);
            }
        }
        assert!(decoder.is_done());
        Ok(rows)
    }

    #[test]
    fn rows_decode_the_same_whatever_the_chunk_size() {
        let object = object_of_two_rows();
        let whole = decode_in_chunks(&object, object.len()).unwrap();
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[0].key, "k1");
        assert_eq!(whole[0].tag, tag! {"s" => "new"});
        assert_eq!(whole[1].cells, vec![]);
        for chunk in [1, 3, 7, 64] {
            assert_eq!(
                decode_in_chunks(&object, chunk).unwrap(),
                whole,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn a_length_past_the_object_is_corrupted_at_once() {
        let mut object = object_of_two_rows();
        // The key length of the first record: claim far more than there is.
        object[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut decoder = RowDecoder::new(object.len() as u64);
        decoder.feed(Bytes::copy_from_slice(&object[..16])).unwrap();
        let err = decoder.next_row().unwrap_err();
        assert_eq!(err.kind(), tq_core::ErrorKind::Corrupted, "{err}");
    }

    #[test]
    fn a_wrong_magic_is_corrupted() {
        let mut object = object_of_two_rows();
        object[0] ^= 1;
        let err = decode_in_chunks(&object, 5).unwrap_err();
        assert!(err.to_string().contains("magic"), "{err}");
    }
}
