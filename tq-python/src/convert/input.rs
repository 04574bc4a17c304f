//! Python arguments -> tq-rs values: tensors (buffer protocol or DLPack,
//! no copy), non-tensor values, rows, batches, tags, key and field lists.

use bytes::Bytes;
use pyo3::buffer::PyUntypedBuffer;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};
use tq_facade::{Batch, Column, Error, NonTensor, Row, Tag, Tensor, Value};

use super::json::{dict_to_map, to_json};
use crate::errors::invalid;
use crate::formats::dtype_from_format;

/// Where a conversion happens, for the errors: the kv_* call and its partition.
#[derive(Clone, Copy)]
pub(crate) struct Site<'a> {
    pub(crate) op: &'static str,
    pub(crate) partition: &'a str,
}

impl Site<'_> {
    pub(crate) fn error(&self, message: impl Into<String>) -> Error {
        invalid(self.op, self.partition, message)
    }
}

/// The exporter's buffer, held (and so kept alive and unresized) until the
/// last `Bytes` over it drops; `PyUntypedBuffer` releases it under the GIL.
struct BufferOwner(PyUntypedBuffer);

impl AsRef<[u8]> for BufferOwner {
    fn as_ref(&self) -> &[u8] {
        let len = self.0.len_bytes();
        if len == 0 {
            return &[];
        }
        // SAFETY: the exporter keeps `len` bytes at `buf_ptr` while the
        // buffer is held, and they are only read.
        unsafe { std::slice::from_raw_parts(self.0.buf_ptr().cast::<u8>(), len) }
    }
}

fn bytes_of_buffer(buf: PyUntypedBuffer) -> Bytes {
    Bytes::from_owner(BufferOwner(buf))
}

/// The buffer of `obj`, and whether it is zero-dimensional. pyo3 refuses a
/// buffer without a shape array, which is how some exporters (numpy
/// scalars) describe zero dimensions: those are read through a one-element
/// reshape (a view for a 0-d array; a scalar is a few bytes).
fn buffer_of(obj: &Bound<'_, PyAny>) -> Result<(PyUntypedBuffer, bool), String> {
    match PyUntypedBuffer::get(obj) {
        Ok(buf) => Ok((buf, false)),
        Err(e) => {
            let zero_dim = obj
                .getattr("ndim")
                .and_then(|n| n.extract::<usize>())
                .is_ok_and(|n| n == 0);
            if !zero_dim {
                return Err(format!("cannot read its buffer: {e}"));
            }
            let flat = obj
                .call_method1("reshape", (1,))
                .map_err(|e| format!("cannot read its buffer: {e}"))?;
            let buf =
                PyUntypedBuffer::get(&flat).map_err(|e| format!("cannot read its buffer: {e}"))?;
            Ok((buf, true))
        }
    }
}

fn from_buffer(obj: &Bound<'_, PyAny>) -> Result<Tensor, String> {
    let (buf, zero_dim) = buffer_of(obj)?;
    let format = buf.format().to_str().unwrap_or("?").to_owned();
    let item_size = buf.item_size();
    let dtype = dtype_from_format(&format, item_size).ok_or_else(|| {
        format!(
            "has element format {format:?} ({item_size} bytes), which tq-rs does not store (bool, \
             int8-64, uint8-64, float16/32/64, little-endian; bfloat16 through torch)"
        )
    })?;
    if !buf.is_c_contiguous() {
        return Err(
            "is not C-contiguous (a transposed or strided view); pass numpy.ascontiguousarray(x), \
             which copies"
                .into(),
        );
    }
    let shape = if zero_dim {
        Vec::new()
    } else {
        buf.shape().to_vec()
    };
    Tensor::new(dtype, shape, bytes_of_buffer(buf)).map_err(|e| e.message().to_owned())
}

/// `obj` as a tensor without copying its memory, if it is tensor-like (has
/// the buffer protocol or `__dlpack__`, and is not str/bytes/bytearray);
/// `Ok(None)` when it is not tensor-like.
pub(crate) fn tensor_of(obj: &Bound<'_, PyAny>) -> Result<Option<Tensor>, String> {
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyByteArray>() {
        return Ok(None);
    }
    // SAFETY: a live object.
    if unsafe { ffi::PyObject_CheckBuffer(obj.as_ptr()) } == 1 {
        return from_buffer(obj).map(Some);
    }
    if obj.hasattr("__dlpack__").unwrap_or(false) {
        return crate::dlpack::import(obj).map(Some);
    }
    Ok(None)
}

/// `obj` as a non-tensor value: str, bytes (kept without a copy),
/// bytearray (copied), else JSON.
fn non_tensor_of(obj: &Bound<'_, PyAny>) -> Result<NonTensor, String> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(NonTensor::Str(
            s.to_str().map_err(|e| e.to_string())?.to_owned(),
        ));
    }
    if obj.is_instance_of::<PyBytes>() {
        let buf = PyUntypedBuffer::get(obj).map_err(|e| e.to_string())?;
        return Ok(NonTensor::Bytes(bytes_of_buffer(buf)));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(NonTensor::Bytes(Bytes::from(b.to_vec())));
    }
    to_json(obj).map(NonTensor::Json)
}

/// One cell: a tensor if `obj` is tensor-like, else a non-tensor value.
pub(crate) fn value_of(obj: &Bound<'_, PyAny>) -> Result<Value, String> {
    match tensor_of(obj)? {
        Some(t) => Ok(Value::Tensor(t)),
        None => non_tensor_of(obj).map(Value::NonTensor),
    }
}

fn field_name(site: Site<'_>, name: &Bound<'_, PyAny>) -> Result<String, Error> {
    name.cast::<PyString>()
        .ok()
        .and_then(|s| s.to_str().ok().map(str::to_owned))
        .ok_or_else(|| site.error(format!("field names are str, got {name}")))
}

fn as_dict<'a, 'py>(
    site: Site<'_>,
    what: &str,
    obj: &'a Bound<'py, PyAny>,
) -> Result<&'a Bound<'py, PyDict>, Error> {
    obj.cast::<PyDict>().map_err(|_| {
        site.error(format!(
            "{what} must be a dict (or a TensorDict), got {}",
            type_name(obj)
        ))
    })
}

pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The fields of one row (`kv_put`): field -> value, no batch dimension.
pub(crate) fn row_of(site: Site<'_>, key: &str, fields: &Bound<'_, PyAny>) -> Result<Row, Error> {
    let dict = as_dict(site, "fields", fields).map_err(|e| e.with_context("key", key))?;
    let mut row = Row::new();
    for (name, value) in dict.iter() {
        let name = field_name(site, &name).map_err(|e| e.with_context("key", key))?;
        let value = value_of(&value).map_err(|m| {
            site.error(format!("field {name:?}: {m}"))
                .with_context("key", key)
                .with_context("field", name.clone())
        })?;
        row.insert(name, value);
    }
    Ok(row)
}

/// One column of `kv_batch_put`: an array (leading dimension = rows) or a
/// list of one value per row (tensors: a jagged column; else non-tensors).
fn column_of(obj: &Bound<'_, PyAny>) -> Result<Column, String> {
    if let Some(t) = tensor_of(obj)? {
        return Column::dense(t).map_err(|e| e.message().to_owned());
    }
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = obj.cast::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        t.iter().collect()
    } else {
        return Err(format!(
            "a column is an array whose leading dimension is the rows, or a list with one value \
             per row; got {}",
            type_name(obj)
        ));
    };
    let mut tensors = Vec::new();
    let mut others = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match tensor_of(item).map_err(|m| format!("row {i}: {m}"))? {
            Some(t) => tensors.push(t),
            None => others.push(non_tensor_of(item).map_err(|m| format!("row {i}: {m}"))?),
        }
    }
    match (tensors.is_empty(), others.is_empty()) {
        (false, true) => Ok(Column::Jagged(tensors)),
        (true, _) => Ok(Column::NonTensor(others)),
        (false, false) => {
            Err("mixes tensors and non-tensor values; a column holds one or the other".into())
        }
    }
}

/// The columns of `kv_batch_put` for `num_rows` rows.
pub(crate) fn batch_of(
    site: Site<'_>,
    fields: &Bound<'_, PyAny>,
    num_rows: usize,
) -> Result<Batch, Error> {
    let dict = as_dict(site, "fields", fields)?;
    let mut batch = Batch::new(num_rows);
    for (name, column) in dict.iter() {
        let name = field_name(site, &name)?;
        let named = |m: String| {
            site.error(format!("field {name:?}: {m}"))
                .with_context("field", name.clone())
        };
        let column = column_of(&column).map_err(named)?;
        batch.insert(name.clone(), column).map_err(|e| {
            e.with_operation(site.op)
                .with_context("partition", site.partition)
        })?;
    }
    Ok(batch)
}

/// A tag dict.
pub(crate) fn tag_of(
    site: Site<'_>,
    key: Option<&str>,
    tag: &Bound<'_, PyAny>,
) -> Result<Tag, Error> {
    let with_key = |e: Error| match key {
        Some(k) => e.with_context("key", k),
        None => e,
    };
    let dict = as_dict(site, "a tag", tag).map_err(with_key)?;
    dict_to_map(dict).map_err(|m| with_key(site.error(format!("tag: {m}"))))
}

/// One tag per key, aligned with `keys`.
pub(crate) fn tags_of(
    site: Site<'_>,
    keys: &[String],
    tags: &Bound<'_, PyAny>,
) -> Result<Vec<Tag>, Error> {
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = tags.cast::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = tags.cast::<PyTuple>() {
        t.iter().collect()
    } else {
        return Err(site.error(format!(
            "tags must be a list of dicts, got {}",
            type_name(tags)
        )));
    };
    if items.len() != keys.len() {
        return Err(site.error(format!(
            "{} tags for {} keys; give one tag per key",
            items.len(),
            keys.len()
        )));
    }
    items
        .iter()
        .zip(keys)
        .map(|(t, k)| tag_of(site, Some(k), t))
        .collect()
}

/// A str, or a list/tuple of str: keys or field names.
pub(crate) fn names_of(
    site: Site<'_>,
    what: &str,
    obj: &Bound<'_, PyAny>,
) -> Result<Vec<String>, Error> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(vec![
            s.to_str()
                .map_err(|e| site.error(e.to_string()))?
                .to_owned(),
        ]);
    }
    let bad = || {
        site.error(format!(
            "{what} must be a str or a list of str, got {}",
            type_name(obj)
        ))
    };
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = obj.cast::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        t.iter().collect()
    } else {
        return Err(bad());
    };
    items
        .iter()
        .map(|item| {
            item.cast::<PyString>()
                .ok()
                .and_then(|s| s.to_str().ok().map(str::to_owned))
                .ok_or_else(|| site.error(format!("{what} must be str, got {}", type_name(item))))
        })
        .collect()
}

/// An optional field list.
pub(crate) fn opt_names_of(
    site: Site<'_>,
    what: &str,
    obj: Option<&Bound<'_, PyAny>>,
) -> Result<Option<Vec<String>>, Error> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => names_of(site, what, o).map(Some),
    }
}
