//! tq-rs values -> Python: tensors as numpy arrays or torch tensors that
//! view the fetched buffer, non-tensors as str / bytes / JSON objects.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use tq_facade::{Batch, Column, DType, Error, NonTensor, Tensor, TensorColumn, Value};

use super::json::to_py as json_to_py;
use crate::errors::to_py_err;
use crate::view::Buffer;

/// What tensors come out as.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum TensorOut {
    /// `numpy.ndarray`, read-only, viewing the buffer (buffer protocol).
    Numpy,
    /// `torch.Tensor` viewing the buffer (DLPack).
    Torch,
}

impl TensorOut {
    /// Parses the `output` argument: `"numpy"` or `"torch"`.
    pub(crate) fn parse(output: &str) -> Result<Self, Error> {
        match output {
            "numpy" => Ok(TensorOut::Numpy),
            "torch" => Ok(TensorOut::Torch),
            other => Err(Error::invalid_argument(format!(
                "output must be \"numpy\", \"torch\" or \"tensordict\", got {other:?}"
            ))),
        }
    }
}

static NUMPY_ASARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static TORCH_FROM_DLPACK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn converter<'py>(py: Python<'py>, out: TensorOut) -> PyResult<&'py Bound<'py, PyAny>> {
    let (cell, module, name) = match out {
        TensorOut::Numpy => (&NUMPY_ASARRAY, "numpy", "asarray"),
        TensorOut::Torch => (&TORCH_FROM_DLPACK, "torch", "from_dlpack"),
    };
    let f = cell.get_or_try_init(py, || py.import(module)?.getattr(name).map(Bound::unbind))?;
    Ok(f.bind(py))
}

/// A view of `buffer` as `out` asks.
fn view<'py>(
    py: Python<'py>,
    buffer: Buffer,
    dtype: DType,
    field: &str,
    out: TensorOut,
) -> PyResult<Bound<'py, PyAny>> {
    if out == TensorOut::Numpy && dtype == DType::BF16 {
        return Err(to_py_err(
            Error::unsupported(format!(
                "field {field:?} is bfloat16, which numpy has no dtype for; get it with \
                 output=\"torch\""
            ))
            .with_context("field", field),
        ));
    }
    converter(py, out)?.call1((Bound::new(py, buffer)?,))
}

/// One tensor as `out` asks, viewing its bytes.
pub(crate) fn tensor_to_py<'py>(
    py: Python<'py>,
    t: &Tensor,
    field: &str,
    out: TensorOut,
) -> PyResult<Bound<'py, PyAny>> {
    let buffer = Buffer::new(t.data().clone(), t.dtype(), t.shape());
    view(py, buffer, t.dtype(), field, out)
}

/// A tensor column: one array `[N, ...]` over the whole buffer when every
/// row has one shape, else a list of per-row arrays (each a view of its
/// slice of the same buffer).
fn tensor_column_to_py<'py>(
    py: Python<'py>,
    column: &TensorColumn,
    field: &str,
    out: TensorOut,
) -> PyResult<Bound<'py, PyAny>> {
    if let Some(dense) = column.as_dense() {
        return tensor_to_py(py, &dense, field, out);
    }
    let list = PyList::empty(py);
    for row in column.rows() {
        list.append(tensor_to_py(py, &row, field, out)?)?;
    }
    Ok(list.into_any())
}

/// A non-tensor value.
pub(crate) fn non_tensor_to_py<'py>(py: Python<'py>, v: &NonTensor) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        NonTensor::Str(s) => PyString::new(py, s).into_any(),
        NonTensor::Bytes(b) => PyBytes::new(py, b).into_any(),
        NonTensor::Json(j) => json_to_py(py, j)?,
    })
}

/// One cell.
pub(crate) fn value_to_py<'py>(
    py: Python<'py>,
    v: &Value,
    field: &str,
    out: TensorOut,
) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Value::Tensor(t) => tensor_to_py(py, t, field, out),
        Value::NonTensor(n) => non_tensor_to_py(py, n),
    }
}

/// A fetched batch as a dict: field -> array (or list of arrays, jagged) or
/// list of non-tensor values.
pub(crate) fn batch_to_py<'py>(
    py: Python<'py>,
    batch: &Batch,
    out: TensorOut,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (field, column) in batch.columns() {
        let value = match column {
            Column::Tensor(c) => tensor_column_to_py(py, c, field, out)?,
            Column::Jagged(rows) => {
                let list = PyList::empty(py);
                for row in rows {
                    list.append(tensor_to_py(py, row, field, out)?)?;
                }
                list.into_any()
            }
            Column::NonTensor(values) => {
                let list = PyList::empty(py);
                for v in values {
                    list.append(non_tensor_to_py(py, v)?)?;
                }
                list.into_any()
            }
        };
        dict.set_item(field, value)?;
    }
    Ok(dict)
}
