//! The versioned binary layout of one cell value, for backends that store bytes.
//!
//! ```text
//! offset  size      field
//! 0       1         version (currently 1)
//! 1       1         kind: 0 tensor, 1 string, 2 bytes, 3 JSON
//! 2       1         dtype code (tensors; 0 otherwise), see `DType::code`
//! 3       1         ndim (tensors; 0 otherwise), at most 64
//! 4       4         reserved, zero
//! 8       8 x ndim  dimensions, u64 little-endian
//! 8+8n    rest      payload: tensor bytes (row-major, little-endian),
//!                   UTF-8 text, raw bytes, or JSON text
//! ```
//!
//! The header is a multiple of 8 bytes, so a payload decoded from an 8-aligned
//! buffer stays aligned for every dtype and typed views need no copy.
//! Decoding shares the input buffer (`Bytes::slice`) for tensor and raw-byte
//! payloads. Any input, however damaged, decodes to a value or to
//! [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted); it never panics.

use bytes::Bytes;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::{MAX_NDIM, Tensor};
use crate::value::{NonTensor, Value};

/// The codec version this build writes. Older versions it can read are
/// decoded by [`decode`]; newer ones are `Corrupted` with a message saying so.
pub const CODEC_VERSION: u8 = 1;

const KIND_TENSOR: u8 = 0;
const KIND_STR: u8 = 1;
const KIND_BYTES: u8 = 2;
const KIND_JSON: u8 = 3;
const FIXED_HEADER: usize = 8;

/// The header bytes of `value` (everything before the payload).
pub fn encode_header(value: &Value) -> Vec<u8> {
    let (kind, dtype, shape): (u8, u8, &[usize]) = match value {
        Value::Tensor(t) => (KIND_TENSOR, t.dtype().code(), t.shape()),
        Value::NonTensor(NonTensor::Str(_)) => (KIND_STR, 0, &[]),
        Value::NonTensor(NonTensor::Bytes(_)) => (KIND_BYTES, 0, &[]),
        Value::NonTensor(NonTensor::Json(_)) => (KIND_JSON, 0, &[]),
    };
    let mut header = Vec::with_capacity(FIXED_HEADER + 8 * shape.len());
    // Tensors never exceed MAX_NDIM (64) dimensions, so ndim fits a byte.
    header.extend_from_slice(&[CODEC_VERSION, kind, dtype, shape.len() as u8, 0, 0, 0, 0]);
    for &d in shape {
        header.extend_from_slice(&(d as u64).to_le_bytes());
    }
    header
}

/// The payload bytes of `value`: shared with the value for tensors and raw
/// bytes, freshly built for strings and JSON.
pub fn encode_payload(value: &Value) -> Bytes {
    match value {
        Value::Tensor(t) => t.data().clone(),
        Value::NonTensor(NonTensor::Str(s)) => Bytes::copy_from_slice(s.as_bytes()),
        Value::NonTensor(NonTensor::Bytes(b)) => b.clone(),
        // Serializing a serde_json::Value cannot fail (all keys are strings).
        Value::NonTensor(NonTensor::Json(j)) => {
            Bytes::from(serde_json::to_vec(j).unwrap_or_default())
        }
    }
}

/// The length of `value`'s encoding, computed without building it (JSON is
/// serialized into a counter).
pub fn encoded_len(value: &Value) -> usize {
    let header = FIXED_HEADER + 8 * value.as_tensor().map_or(0, |t| t.shape().len());
    let payload = match value {
        Value::NonTensor(NonTensor::Json(j)) => {
            let mut counter = ByteCounter(0);
            // Writing into a counter cannot fail.
            let _ = serde_json::to_writer(&mut counter, j);
            counter.0
        }
        other => other.nbytes(),
    };
    header.saturating_add(payload)
}

/// A writer that only counts.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Appends the encoding of `value` to `out`.
pub fn encode_into(value: &Value, out: &mut Vec<u8>) {
    out.extend_from_slice(&encode_header(value));
    match value {
        Value::Tensor(t) => out.extend_from_slice(t.data()),
        Value::NonTensor(NonTensor::Str(s)) => out.extend_from_slice(s.as_bytes()),
        Value::NonTensor(NonTensor::Bytes(b)) => out.extend_from_slice(b),
        Value::NonTensor(NonTensor::Json(j)) => {
            // Writing into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, j);
        }
    }
}

/// The encoding of `value` in one buffer.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(FIXED_HEADER + 8 * MAX_NDIM.min(8) + value.nbytes());
    encode_into(value, &mut out);
    out
}

/// Decodes one value, sharing `bytes` for tensor and raw-byte payloads.
pub fn decode(bytes: Bytes) -> Result<Value> {
    decode_inner(bytes).map_err(|e| e.with_operation("codec::decode"))
}

/// Decodes one value stored in two pieces: `header` (what
/// [`encode_header`] wrote) and `payload` (what [`encode_payload`] wrote),
/// sharing `payload` for tensors and raw bytes. Damaged input is
/// `Corrupted`, as for [`decode`].
pub fn decode_parts(header: &[u8], payload: Bytes) -> Result<Value> {
    decode_parts_inner(header, payload).map_err(|e| e.with_operation("codec::decode_parts"))
}

fn decode_parts_inner(header: &[u8], payload: Bytes) -> Result<Value> {
    let parsed = whole_header(header)?;
    match parsed.tensor {
        Some((dtype, shape)) => tensor_value(dtype, shape, payload),
        None => {
            // Non-tensor values are small: decode them whole.
            let mut whole = Vec::with_capacity(header.len() + payload.len());
            whole.extend_from_slice(header);
            whole.extend_from_slice(&payload);
            decode_inner(Bytes::from(whole))
        }
    }
}

/// The dtype and shape a header (exactly what [`encode_header`] wrote)
/// announces for a tensor, `None` for any other kind of value: how a
/// backend that keeps headers apart from payloads learns a payload's size
/// before reading it. A damaged header is `Corrupted`.
pub fn tensor_layout(header: &[u8]) -> Result<Option<(DType, Vec<usize>)>> {
    Ok(whole_header(header)?.tensor)
}

/// A header read and checked: its kind, for a tensor its dtype and shape,
/// and its length in bytes.
struct Header {
    kind: u8,
    tensor: Option<(DType, Vec<usize>)>,
    len: usize,
}

/// The header at the start of `bytes` (a whole value, or a header alone).
fn read_header(bytes: &[u8]) -> Result<Header> {
    let Some(fixed) = bytes.get(..FIXED_HEADER) else {
        return Err(Error::corrupted(format!(
            "value is {} bytes, shorter than the {FIXED_HEADER}-byte header",
            bytes.len()
        )));
    };
    let [version, kind, dtype, ndim, ..] = *fixed else {
        return Err(Error::corrupted("unreadable header"));
    };
    if version != CODEC_VERSION {
        return Err(Error::corrupted(format!(
            "codec version {version} is not supported (this build reads version {CODEC_VERSION})"
        )));
    }
    if fixed[4..] != [0, 0, 0, 0] {
        return Err(Error::corrupted("reserved header bytes are not zero"));
    }
    let ndim = ndim as usize;
    if kind != KIND_TENSOR {
        if dtype != 0 || ndim != 0 {
            return Err(Error::corrupted("non-tensor value with a dtype or shape"));
        }
        return Ok(Header {
            kind,
            tensor: None,
            len: FIXED_HEADER,
        });
    }
    let dtype = DType::from_code(dtype)
        .ok_or_else(|| Error::corrupted(format!("unknown dtype code {dtype}")))?;
    if ndim > MAX_NDIM {
        return Err(Error::corrupted(format!("tensor with {ndim} dimensions")));
    }
    let len = FIXED_HEADER + 8 * ndim;
    let dims = bytes.get(FIXED_HEADER..len).ok_or_else(|| {
        Error::corrupted(format!(
            "tensor header needs {len} bytes, value has {}",
            bytes.len()
        ))
    })?;
    let shape = dims
        .chunks_exact(8)
        .map(|c| {
            let mut le = [0u8; 8];
            le.copy_from_slice(c);
            usize::try_from(u64::from_le_bytes(le))
                .map_err(|_| Error::corrupted("tensor dimension does not fit in usize"))
        })
        .collect::<Result<Vec<usize>>>()?;
    Ok(Header {
        kind,
        tensor: Some((dtype, shape)),
        len,
    })
}

/// [`read_header`] of bytes that must be exactly one header.
fn whole_header(header: &[u8]) -> Result<Header> {
    let parsed = read_header(header)?;
    if parsed.len != header.len() {
        return Err(Error::corrupted(format!(
            "a header of {} bytes where its fields take {}",
            header.len(),
            parsed.len
        )));
    }
    Ok(parsed)
}

/// A tensor over `payload`, which must match its header.
fn tensor_value(dtype: DType, shape: Vec<usize>, payload: Bytes) -> Result<Value> {
    Tensor::new(dtype, shape, payload)
        .map(Value::Tensor)
        .map_err(|e| {
            Error::corrupted(format!(
                "tensor payload does not match its header: {}",
                e.message()
            ))
        })
}

fn decode_inner(bytes: Bytes) -> Result<Value> {
    let header = read_header(&bytes)?;
    let payload = bytes.slice(header.len..);
    match (header.kind, header.tensor) {
        (KIND_TENSOR, Some((dtype, shape))) => tensor_value(dtype, shape, payload),
        (KIND_STR, _) => String::from_utf8(payload.to_vec())
            .map(|s| Value::NonTensor(NonTensor::Str(s)))
            .map_err(|e| Error::corrupted("string value is not UTF-8").with_source(e)),
        (KIND_BYTES, _) => Ok(Value::NonTensor(NonTensor::Bytes(payload))),
        (KIND_JSON, _) => serde_json::from_slice(&payload)
            .map(|j| Value::NonTensor(NonTensor::Json(j)))
            .map_err(|e| Error::corrupted("JSON value does not parse").with_source(e)),
        (other, _) => Err(Error::corrupted(format!("unknown value kind {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::dtype::ALL_DTYPES;
    use proptest::prelude::*;

    fn arb_tensor() -> impl Strategy<Value = Tensor> {
        (
            0usize..ALL_DTYPES.len(),
            proptest::collection::vec(0usize..5, 0..4),
        )
            .prop_flat_map(|(d, shape)| {
                let dtype = ALL_DTYPES[d];
                let len = shape.iter().product::<usize>() * dtype.size();
                proptest::collection::vec(any::<u8>(), len)
                    .prop_map(move |data| Tensor::new(dtype, shape.clone(), data).unwrap())
            })
    }

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            ".*".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(".*", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            arb_tensor().prop_map(Value::Tensor),
            ".*".prop_map(Value::from),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(|b| Value::from(Bytes::from(b))),
            arb_json().prop_map(Value::from),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(value in arb_value()) {
            let encoded = encode(&value);
            let mut split = encode_header(&value);
            split.extend_from_slice(&encode_payload(&value));
            prop_assert_eq!(&encoded, &split);
            prop_assert_eq!(encoded_len(&value), encoded.len());
            prop_assert_eq!(decode(Bytes::from(encoded)).unwrap(), value.clone());
            let header = encode_header(&value);
            prop_assert_eq!(decode_parts(&header, encode_payload(&value)).unwrap(), value.clone());
            let layout = tensor_layout(&header).unwrap();
            prop_assert_eq!(layout, value.as_tensor().map(|t| (t.dtype(), t.shape().to_vec())));
        }

        #[test]
        fn damaged_parts_are_corrupted_never_panic(
            value in arb_value(),
            pos in 0usize..24,
            bit in 0u8..8,
            cut in 0usize..64,
        ) {
            let mut header = encode_header(&value);
            if let Some(b) = header.get_mut(pos) {
                *b ^= 1 << bit;
            }
            let payload = encode_payload(&value);
            let payload = payload.slice(..cut.min(payload.len()));
            if let Err(e) = decode_parts(&header, payload) {
                prop_assert_eq!(e.kind(), crate::ErrorKind::Corrupted);
            }
            let _ = tensor_layout(&header);
        }

        #[test]
        fn random_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = decode(Bytes::from(data));
        }

        #[test]
        fn truncated_input_is_corrupted_never_panics(value in arb_value(), cut in 0usize..256) {
            let encoded = encode(&value);
            let cut = cut.min(encoded.len());
            if let Err(e) = decode(Bytes::copy_from_slice(&encoded[..cut])) {
                prop_assert_eq!(e.kind(), ErrorKind::Corrupted);
            }
        }

        #[test]
        fn flipped_header_byte_never_panics(value in arb_value(), pos in 0usize..24, bit in 0u8..8) {
            let mut encoded = encode(&value);
            if pos < encoded.len() {
                encoded[pos] ^= 1 << bit;
            }
            if let Err(e) = decode(Bytes::from(encoded)) {
                prop_assert_eq!(e.kind(), ErrorKind::Corrupted);
            }
        }
    }

    #[test]
    fn tensor_payload_is_shared_and_aligned() {
        let t = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], [3]).unwrap();
        let encoded = Bytes::from(encode(&Value::Tensor(t.clone())));
        let Value::Tensor(back) = decode(encoded.clone()).unwrap() else {
            panic!("expected a tensor")
        };
        assert_eq!(back, t);
        assert_eq!(back.data().as_ptr(), encoded[16..].as_ptr());
    }

    #[test]
    fn newer_version_is_corrupted_with_a_clear_message() {
        let mut encoded = encode(&Value::from("hi"));
        encoded[0] = 2;
        let err = decode(Bytes::from(encoded)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupted);
        assert!(err.message().contains("version 2"), "{err}");
    }

    #[test]
    fn payload_length_mismatch_is_corrupted() {
        let mut encoded = encode(&Value::Tensor(Tensor::zeros(DType::F32, [4]).unwrap()));
        encoded.pop();
        assert_eq!(
            decode(Bytes::from(encoded)).unwrap_err().kind(),
            ErrorKind::Corrupted
        );
    }
}
