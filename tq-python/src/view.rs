//! `Buffer`: a fetched tensor's bytes, shared with Rust, that numpy and torch
//! view without copying, through the buffer protocol (`numpy.asarray`) or
//! DLPack (`torch.from_dlpack`, `numpy.from_dlpack`).

use std::ffi::c_int;

use bytes::Bytes;
use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;
use tq_facade::DType;

use crate::formats::format_of;

/// Read-only bytes of one tensor (a whole dense column, or one row), with
/// its dtype and shape. Arrays made from it view these bytes and keep them
/// alive; writing through the buffer protocol is refused.
#[pyclass(frozen, module = "tq_rs._native")]
pub(crate) struct Buffer {
    data: Bytes,
    dtype: DType,
    shape: Vec<isize>,
    /// Byte strides of a C-contiguous layout.
    strides: Vec<isize>,
}

impl Buffer {
    /// A buffer over `data`, which holds exactly a C-contiguous tensor of
    /// `dtype` and `shape` (a `Tensor` or `TensorColumn` checked that).
    pub(crate) fn new(data: Bytes, dtype: DType, shape: &[usize]) -> Self {
        let shape: Vec<isize> = shape.iter().map(|&d| d as isize).collect();
        let mut strides = vec![dtype.size() as isize; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * shape[i + 1];
        }
        Buffer {
            data,
            dtype,
            shape,
            strides,
        }
    }
}

#[pymethods]
impl Buffer {
    /// Address of the first byte (to check that arrays view this buffer).
    #[getter]
    fn address(&self) -> usize {
        self.data.as_ptr() as usize
    }

    /// Size in bytes.
    #[getter]
    fn nbytes(&self) -> usize {
        self.data.len()
    }

    /// The dtype's torch name (`"float32"`).
    #[getter]
    fn dtype(&self) -> &'static str {
        self.dtype.torch_name()
    }

    /// The shape.
    #[getter]
    fn shape(&self) -> Vec<isize> {
        self.shape.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "Buffer(dtype={}, shape={:?}, nbytes={})",
            self.dtype,
            self.shape,
            self.data.len()
        )
    }

    /// The buffer protocol: a read-only, C-contiguous view.
    ///
    /// # Safety
    /// Called by Python with a `Py_buffer` to fill.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("view is null"));
        }
        if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err(
                "tq_rs buffers are read-only (fetched data is shared); copy the array to write",
            ));
        }
        let this = slf.get();
        let Some(format) = format_of(this.dtype) else {
            return Err(PyBufferError::new_err(
                "bfloat16 has no buffer-protocol format (numpy has no bfloat16); get it with \
                 output=\"torch\" (DLPack)",
            ));
        };
        let data_ptr = this.data.as_ptr();
        let len = this.data.len() as isize;
        let itemsize = this.dtype.size() as isize;
        let ndim = this.shape.len() as c_int;
        let shape_ptr = this.shape.as_ptr().cast_mut();
        let strides_ptr = this.strides.as_ptr().cast_mut();
        // SAFETY: `view` is a valid Py_buffer to fill; the pointers stay
        // valid while `obj` (a new reference to this frozen object) lives.
        unsafe {
            (*view).obj = slf.into_any().into_ptr();
            (*view).buf = data_ptr.cast_mut().cast();
            (*view).len = len;
            (*view).readonly = 1;
            (*view).itemsize = itemsize;
            (*view).format = if flags & ffi::PyBUF_FORMAT == ffi::PyBUF_FORMAT {
                format.as_ptr().cast_mut()
            } else {
                std::ptr::null_mut()
            };
            if flags & ffi::PyBUF_ND == ffi::PyBUF_ND {
                (*view).ndim = ndim;
                (*view).shape = shape_ptr;
            } else {
                // A simple request sees plain bytes.
                (*view).ndim = 1;
                (*view).shape = std::ptr::null_mut();
            }
            (*view).strides = if flags & ffi::PyBUF_STRIDES == ffi::PyBUF_STRIDES {
                strides_ptr
            } else {
                std::ptr::null_mut()
            };
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = std::ptr::null_mut();
        }
        Ok(())
    }

    /// The DLPack protocol: a `dltensor` capsule viewing these bytes.
    /// `stream`, `max_version`, `dl_device` and `copy` are accepted as the
    /// protocol asks; the answer is always the CPU tensor itself (never a
    /// copy), in the unversioned ABI every consumer reads.
    #[pyo3(signature = (*, stream=None, max_version=None, dl_device=None, copy=None))]
    fn __dlpack__<'py>(
        &self,
        py: Python<'py>,
        stream: Option<Bound<'py, PyAny>>,
        max_version: Option<Bound<'py, PyAny>>,
        dl_device: Option<Bound<'py, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = (stream, max_version, dl_device);
        if copy == Some(true) {
            return Err(PyBufferError::new_err(
                "tq_rs buffers are exported without copying (copy=True was asked)",
            ));
        }
        let shape: Vec<usize> = self.shape.iter().map(|&d| d as usize).collect();
        crate::dlpack::export(py, &self.data, self.dtype, &shape)
    }

    /// DLPack's device: the CPU (`kDLCPU`, 0).
    fn __dlpack_device__(&self) -> (i32, i32) {
        (1, 0)
    }
}
