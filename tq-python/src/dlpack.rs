//! DLPack, both ways, on the CPU: a fetched buffer leaves as a `dltensor`
//! capsule that `torch.from_dlpack` / `numpy.from_dlpack` view without a
//! copy, and an object with `__dlpack__` (a torch tensor) comes in as a
//! tensor over the producer's memory, also without a copy.
//!
//! The structs are the legacy (unversioned) ABI of `dlpack.h`, which every
//! consumer still accepts.

use std::ffi::{CStr, c_void};

use bytes::Bytes;
use pyo3::ffi;
use pyo3::prelude::*;
use tq_facade::{DType, Tensor};

use crate::formats::{dl_type_of, dtype_of_dl};

const CAPSULE: &CStr = c"dltensor";
const USED_CAPSULE: &CStr = c"used_dltensor";
/// `kDLCPU` and `kDLCUDAHost` (pinned host memory): the device types whose
/// memory the CPU reads directly.
const DL_CPU: i32 = 1;
const DL_CUDA_HOST: i32 = 3;

#[repr(C)]
struct DLDevice {
    device_type: i32,
    device_id: i32,
}

#[repr(C)]
struct DLDataType {
    code: u8,
    bits: u8,
    lanes: u16,
}

#[repr(C)]
struct DLTensor {
    data: *mut c_void,
    device: DLDevice,
    ndim: i32,
    dtype: DLDataType,
    shape: *mut i64,
    strides: *mut i64,
    byte_offset: u64,
}

#[repr(C)]
struct DLManagedTensor {
    dl_tensor: DLTensor,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

/// What an exported tensor keeps alive: the bytes, and the shape and
/// strides arrays the `DLTensor` points into.
struct ExportCtx {
    _data: Bytes,
    _shape: Vec<i64>,
    _strides: Vec<i64>,
}

unsafe extern "C" fn export_deleter(managed: *mut DLManagedTensor) {
    if managed.is_null() {
        return;
    }
    // SAFETY: `managed` and its context were made by `Box::into_raw` in
    // `export`, and a consumer calls the deleter once.
    unsafe {
        let managed = Box::from_raw(managed);
        drop(Box::from_raw(managed.manager_ctx.cast::<ExportCtx>()));
    }
}

/// Frees a capsule nobody consumed (a consumer renames it `used_dltensor`
/// and takes over the deleter).
unsafe extern "C" fn capsule_destructor(capsule: *mut ffi::PyObject) {
    // SAFETY: called by Python with a live capsule; a capsule still named
    // `dltensor` holds our DLManagedTensor.
    unsafe {
        if ffi::PyCapsule_IsValid(capsule, CAPSULE.as_ptr()) == 1 {
            let managed = ffi::PyCapsule_GetPointer(capsule, CAPSULE.as_ptr());
            export_deleter(managed.cast::<DLManagedTensor>());
        }
    }
}

/// A `dltensor` capsule viewing `data` as a C-contiguous CPU tensor of
/// `dtype` and `shape`; the capsule (or its consumer) keeps `data` alive.
pub(crate) fn export<'py>(
    py: Python<'py>,
    data: &Bytes,
    dtype: DType,
    shape: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    let mut strides = vec![1i64; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * dims[i + 1];
    }
    let (code, bits) = dl_type_of(dtype);
    let ctx = Box::new(ExportCtx {
        _data: data.clone(),
        _shape: dims,
        _strides: strides,
    });
    let managed = Box::new(DLManagedTensor {
        dl_tensor: DLTensor {
            data: data.as_ptr().cast_mut().cast(),
            device: DLDevice {
                device_type: DL_CPU,
                device_id: 0,
            },
            ndim: shape.len() as i32,
            dtype: DLDataType {
                code,
                bits,
                lanes: 1,
            },
            // The vectors' heap blocks do not move when the box does.
            shape: ctx._shape.as_ptr().cast_mut(),
            strides: ctx._strides.as_ptr().cast_mut(),
            byte_offset: 0,
        },
        manager_ctx: Box::into_raw(ctx).cast(),
        deleter: Some(export_deleter),
    });
    let raw = Box::into_raw(managed);
    // SAFETY: `raw` is a valid DLManagedTensor; on failure nobody else has
    // seen it, so it is freed here.
    unsafe {
        let capsule = ffi::PyCapsule_New(raw.cast(), CAPSULE.as_ptr(), Some(capsule_destructor));
        if capsule.is_null() {
            export_deleter(raw);
            return Err(PyErr::fetch(py));
        }
        Ok(Bound::from_owned_ptr(py, capsule))
    }
}

/// The producer's tensor, kept alive until the last `Bytes` over it drops;
/// then its deleter runs, under the GIL (a Python producer's deleter may
/// touch Python objects).
struct Imported {
    managed: *mut DLManagedTensor,
    data: *const u8,
    len: usize,
}

// SAFETY: the memory is only read, and the deleter runs under the GIL,
// whichever thread drops the last reference.
unsafe impl Send for Imported {}

impl AsRef<[u8]> for Imported {
    fn as_ref(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the producer keeps `len` bytes at `data` until its deleter.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

impl Drop for Imported {
    fn drop(&mut self) {
        let managed = self.managed;
        // SAFETY: we own the managed tensor since we renamed its capsule.
        // When the interpreter is gone, its memory went with it.
        let _ = Python::try_attach(|_| unsafe {
            if let Some(deleter) = (*managed).deleter {
                deleter(managed);
            }
        });
    }
}

/// Whether `dims` and element `strides` are C-contiguous (dimensions of
/// size 1 may have any stride).
fn c_contiguous(dims: &[i64], strides: &[i64]) -> bool {
    let mut expected = 1i64;
    for (&d, &s) in dims.iter().zip(strides).rev() {
        if d != 1 && s != expected {
            return false;
        }
        expected = expected.saturating_mul(d);
    }
    true
}

/// A tensor over the memory of `obj`, an object with `__dlpack__`, without
/// a copy; an error message when it is not a C-contiguous CPU tensor of a
/// dtype tq-rs has.
pub(crate) fn import(obj: &Bound<'_, PyAny>) -> Result<Tensor, String> {
    if let Ok(device) = obj.call_method0("__dlpack_device__")
        && let Ok((device_type, _)) = device.extract::<(i32, i32)>()
        && device_type != DL_CPU
        && device_type != DL_CUDA_HOST
    {
        return Err(format!(
            "is on DLPack device type {device_type}, not the CPU; move it with .cpu() first"
        ));
    }
    let capsule = obj
        .call_method0("__dlpack__")
        .map_err(|e| format!("__dlpack__() failed: {e}"))?;
    let ptr = capsule.as_ptr();
    // SAFETY: `ptr` is a live object; IsValid checks that it is a capsule of
    // that name holding a non-null pointer.
    let managed = unsafe {
        if ffi::PyCapsule_IsValid(ptr, CAPSULE.as_ptr()) != 1 {
            return Err("__dlpack__() did not return an unused `dltensor` capsule".into());
        }
        ffi::PyCapsule_GetPointer(ptr, CAPSULE.as_ptr()).cast::<DLManagedTensor>()
    };
    // SAFETY: the capsule holds a valid DLManagedTensor until its deleter.
    let t = unsafe { &(*managed).dl_tensor };
    if t.device.device_type != DL_CPU && t.device.device_type != DL_CUDA_HOST {
        return Err(format!(
            "is on DLPack device type {}, not the CPU; move it with .cpu() first",
            t.device.device_type
        ));
    }
    let dtype = dtype_of_dl(t.dtype.code, t.dtype.bits, t.dtype.lanes).ok_or_else(|| {
        format!(
            "has DLPack dtype (code {}, {} bits, {} lanes), which tq-rs does not store",
            t.dtype.code, t.dtype.bits, t.dtype.lanes
        )
    })?;
    let ndim = usize::try_from(t.ndim)
        .ok()
        .filter(|&n| n <= tq_facade::core::MAX_NDIM)
        .ok_or_else(|| format!("has {} dimensions", t.ndim))?;
    // SAFETY: DLPack's shape (and strides, when not null) hold `ndim` items.
    let dims: &[i64] = if ndim == 0 {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(t.shape, ndim) }
    };
    if !t.strides.is_null() && ndim > 0 {
        let strides = unsafe { std::slice::from_raw_parts(t.strides, ndim) };
        if !c_contiguous(dims, strides) {
            return Err("is not C-contiguous; pass x.contiguous() (a copy)".into());
        }
    }
    let shape = dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("has a negative dimension {d}")))
        .collect::<Result<Vec<usize>, String>>()?;
    let len = tq_facade::core::tensor_nbytes(dtype, &shape).map_err(|e| e.message().to_owned())?;
    let data = if len == 0 {
        std::ptr::null()
    } else {
        // SAFETY: the producer's buffer starts `byte_offset` bytes into `data`.
        unsafe { t.data.cast::<u8>().add(t.byte_offset as usize).cast_const() }
    };
    // Every check passed: take the tensor over, so the capsule's
    // destructor leaves it alone.
    // SAFETY: `ptr` is the capsule checked above.
    if unsafe { ffi::PyCapsule_SetName(ptr, USED_CAPSULE.as_ptr()) } != 0 {
        return Err("cannot mark the DLPack capsule as used".into());
    }
    let owner = Imported { managed, data, len };
    Tensor::new(dtype, shape, Bytes::from_owner(owner)).map_err(|e| e.message().to_owned())
}
