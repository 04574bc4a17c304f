//! A tensor: dtype, shape and row-major little-endian bytes.

use std::fmt;

use bytes::Bytes;

use crate::dtype::{DType, Element};
use crate::error::{Error, Result};

/// The most dimensions a tensor may have (torch allows 64 too).
pub const MAX_NDIM: usize = 64;

/// A dense tensor whose bytes live in a reference-counted [`Bytes`] buffer.
///
/// Cloning and slicing a tensor never copies its bytes. The only way to build
/// one checks that the byte length equals the number of elements times the
/// dtype's size (contract E2), so every `Tensor` is well-formed.
#[derive(Clone, PartialEq, Eq)]
pub struct Tensor {
    dtype: DType,
    shape: Vec<usize>,
    data: Bytes,
}

/// The number of bytes a tensor of `dtype` and `shape` occupies, or an error
/// when the shape has too many dimensions or its size overflows `usize`.
pub fn tensor_nbytes(dtype: DType, shape: &[usize]) -> Result<usize> {
    if shape.len() > MAX_NDIM {
        return Err(Error::invalid_argument(format!(
            "a tensor may have at most {MAX_NDIM} dimensions, got {}",
            shape.len()
        )));
    }
    shape
        .iter()
        .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
        // No allocation may exceed isize::MAX bytes: past it `Vec` panics.
        .filter(|&n| isize::try_from(n).is_ok())
        .ok_or_else(|| {
            Error::invalid_argument(format!(
                "a {dtype} tensor of shape {shape:?} would exceed the address space"
            ))
        })
}

/// `len` zero bytes, or `CapacityExceeded` when the allocator refuses them
/// (an allocation failure would otherwise abort the process). The pages are
/// asked for zeroed, so the OS can hand out untouched zero pages lazily.
pub(crate) fn try_alloc_zeroed(len: usize) -> Result<Vec<u8>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let refused = || {
        Error::new(
            crate::ErrorKind::CapacityExceeded,
            format!("cannot allocate {len} bytes"),
        )
    };
    let layout = std::alloc::Layout::array::<u8>(len).map_err(|_| refused())?;
    // SAFETY: `layout` has a non-zero size (len > 0).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return Err(refused());
    }
    // SAFETY: `ptr` comes from the global allocator with the layout of
    // `[u8; len]` (what `Vec<u8>` uses for capacity `len`), and all `len`
    // bytes are initialised (zeroed).
    Ok(unsafe { Vec::from_raw_parts(ptr, len, len) })
}

impl Tensor {
    /// A tensor over `data`, which must hold exactly `shape` x `dtype.size()`
    /// bytes in row-major little-endian order. `data` is kept, not copied.
    pub fn new(dtype: DType, shape: impl Into<Vec<usize>>, data: impl Into<Bytes>) -> Result<Self> {
        let shape = shape.into();
        let data = data.into();
        let expected = tensor_nbytes(dtype, &shape)?;
        if data.len() != expected {
            return Err(Error::invalid_argument(format!(
                "a {dtype} tensor of shape {shape:?} needs {expected} bytes, got {}",
                data.len()
            )));
        }
        Ok(Tensor { dtype, shape, data })
    }

    /// A tensor that takes ownership of `values` without copying them.
    ///
    /// ```
    /// # use tq_core::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2])?;
    /// assert_eq!(t.as_slice::<f32>()?, &[1.0, 2.0, 3.0, 4.0]);
    /// # Ok::<(), tq_core::Error>(())
    /// ```
    pub fn from_vec<T: Element>(values: Vec<T>, shape: impl Into<Vec<usize>>) -> Result<Self> {
        Self::new(T::DTYPE, shape, Bytes::from_owner(ElementVec(values)))
    }

    /// A tensor holding a copy of `values`.
    pub fn from_slice<T: Element>(values: &[T], shape: impl Into<Vec<usize>>) -> Result<Self> {
        Self::new(
            T::DTYPE,
            shape,
            Bytes::copy_from_slice(bytemuck::cast_slice(values)),
        )
    }

    /// A one-dimensional tensor of `values`, taking ownership without a copy.
    pub fn from_vec_1d<T: Element>(values: Vec<T>) -> Self {
        let len = values.len();
        Tensor {
            dtype: T::DTYPE,
            shape: vec![len],
            data: Bytes::from_owner(ElementVec(values)),
        }
    }

    /// A tensor of zeros (the all-zero bit pattern is zero for every dtype).
    pub fn zeros(dtype: DType, shape: impl Into<Vec<usize>>) -> Result<Self> {
        let shape = shape.into();
        let len = tensor_nbytes(dtype, &shape)?;
        Ok(Tensor {
            dtype,
            shape,
            data: Bytes::from(try_alloc_zeroed(len)?),
        })
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The shape; empty for a scalar.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The number of bytes.
    pub fn nbytes(&self) -> usize {
        self.data.len()
    }

    /// The raw bytes.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// The raw bytes, consuming the tensor.
    pub fn into_data(self) -> Bytes {
        self.data
    }

    /// The elements as a typed slice, without copying.
    ///
    /// Fails with [`crate::ErrorKind::InvalidData`] when `T` is not this
    /// tensor's dtype or the bytes are not aligned for `T` (possible for bytes
    /// sliced out of a larger buffer; use [`Tensor::to_vec`] then), and with
    /// [`crate::ErrorKind::Unsupported`] on a big-endian host.
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        self.check_element::<T>()?;
        bytemuck::try_cast_slice(&self.data).map_err(|e| {
            Error::invalid_data(format!(
                "tensor bytes are not aligned for {}: {e}; use to_vec instead",
                self.dtype
            ))
        })
    }

    /// The elements copied into a `Vec`, whatever the alignment.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        self.check_element::<T>()?;
        let mut out = vec![T::zeroed(); self.numel()];
        bytemuck::cast_slice_mut::<T, u8>(&mut out).copy_from_slice(&self.data);
        Ok(out)
    }

    fn check_element<T: Element>(&self) -> Result<()> {
        if cfg!(target_endian = "big") {
            return Err(Error::unsupported(
                "typed tensor views need a little-endian host",
            ));
        }
        if T::DTYPE != self.dtype {
            return Err(Error::invalid_data(format!(
                "tensor has dtype {}, asked for {}",
                self.dtype,
                T::DTYPE
            )));
        }
        Ok(())
    }

    /// Builds a tensor from parts already known to agree. Crate-internal:
    /// callers guarantee `data.len() == tensor_nbytes(dtype, &shape)`.
    pub(crate) fn from_trusted_parts(dtype: DType, shape: Vec<usize>, data: Bytes) -> Self {
        debug_assert_eq!(tensor_nbytes(dtype, &shape).ok(), Some(data.len()));
        Tensor { dtype, shape, data }
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never dump the payload: it can be hundreds of megabytes.
        f.debug_struct("Tensor")
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .field("nbytes", &self.data.len())
            .finish()
    }
}

/// Owner that lets `Bytes` point into a `Vec<T>` without copying it.
struct ElementVec<T>(Vec<T>);

impl<T: Element> AsRef<[u8]> for ElementVec<T> {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn wrong_byte_length_cannot_be_constructed() {
        let err = Tensor::new(DType::F32, [2, 3], vec![0u8; 23]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.message().contains("24 bytes"), "{err}");
        assert!(Tensor::new(DType::F32, [2, 3], vec![0u8; 24]).is_ok());
    }

    #[test]
    fn overflowing_shape_is_rejected_not_panicking() {
        let err = Tensor::new(DType::F64, [usize::MAX, 2], Vec::<u8>::new()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(Tensor::zeros(DType::U8, vec![1; MAX_NDIM + 1]).is_err());
    }

    #[test]
    fn from_vec_does_not_copy() {
        let v = vec![1i64, 2, 3];
        let ptr = v.as_ptr() as *const u8;
        let t = Tensor::from_vec(v, [3]).unwrap();
        assert_eq!(t.data().as_ptr(), ptr);
        assert_eq!(t.as_slice::<i64>().unwrap(), &[1, 2, 3]);
    }

    #[test]
    fn typed_views_check_dtype_and_alignment() {
        let t = Tensor::from_vec(vec![1.5f32, 2.5], [2]).unwrap();
        assert_eq!(
            t.as_slice::<i32>().unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        // Misaligned bytes: as_slice refuses, to_vec copes.
        let raw = Bytes::from(vec![0u8; 9]).slice(1..9);
        let t = Tensor::new(DType::F32, [2], raw).unwrap();
        if !(t.data().as_ptr() as usize).is_multiple_of(4) {
            assert!(t.as_slice::<f32>().is_err());
        }
        assert_eq!(t.to_vec::<f32>().unwrap(), vec![0.0, 0.0]);
    }
}
