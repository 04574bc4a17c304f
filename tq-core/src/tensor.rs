//! A tensor: dtype, shape and row-major little-endian bytes.

use std::borrow::Cow;
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
#[derive(Clone)]
pub struct Tensor {
    dtype: DType,
    shape: Vec<usize>,
    data: Bytes,
    /// The column buffer `data` was cut from and where it starts in it
    /// ([`Tensor::in_column`]): a get whose rows are consecutive pieces of
    /// one such buffer returns that buffer as its column instead of a copy.
    origin: Option<(Bytes, usize)>,
}

/// Tensors are equal when their dtype, shape and bytes are; where the bytes
/// live does not matter.
impl PartialEq for Tensor {
    fn eq(&self, other: &Self) -> bool {
        self.dtype == other.dtype && self.shape == other.shape && self.data == other.data
    }
}

impl Eq for Tensor {}

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
        Ok(Tensor {
            dtype,
            shape,
            data,
            origin: None,
        })
    }

    /// A tensor over bytes `start..start + nbytes` of `column`, a buffer
    /// holding several rows back to back (a backend reading a get's cells
    /// straight into a [`ColumnBuffer`](crate::buffer::ColumnBuffer)). No
    /// byte is copied, here or later: a get whose rows of a field are
    /// consecutive pieces of one such buffer, in the order asked, returns
    /// that part of the buffer as its column (any other get copies the rows,
    /// as for any tensor). Fails like [`Tensor::new`] when the range lies
    /// outside `column`.
    pub fn in_column(
        dtype: DType,
        shape: impl Into<Vec<usize>>,
        column: &Bytes,
        start: usize,
    ) -> Result<Self> {
        let shape = shape.into();
        let len = tensor_nbytes(dtype, &shape)?;
        let end = start
            .checked_add(len)
            .filter(|&end| end <= column.len())
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "a {dtype} tensor of shape {shape:?} needs bytes {start}..{start}+{len} of a \
                     column buffer of {} bytes",
                    column.len()
                ))
            })?;
        Ok(Tensor {
            dtype,
            shape,
            data: column.slice(start..end),
            origin: Some((column.clone(), start)),
        })
    }

    /// Whether `next` continues this tensor in the same column buffer
    /// ([`Tensor::in_column`]): its bytes start where these end.
    pub(crate) fn continued_by(&self, next: &Tensor) -> bool {
        match (&self.origin, &next.origin) {
            (Some((a, start)), Some((b, next_start))) => {
                a.as_ptr() == b.as_ptr()
                    && a.len() == b.len()
                    && start + self.nbytes() == *next_start
            }
            _ => false,
        }
    }

    /// The column buffer this tensor was cut from, and where it starts.
    pub(crate) fn origin(&self) -> Option<&(Bytes, usize)> {
        self.origin.as_ref()
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
            origin: None,
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
            origin: None,
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
    /// Never copies, so it needs the bytes aligned for `T`. Tensors built by
    /// [`Tensor::from_vec`] or [`Tensor::zeros`], or decoded by the
    /// [`codec`](crate::codec) from an 8-aligned buffer, are; bytes sliced
    /// out of a larger buffer (a network reply, a file) at an offset that is
    /// not a multiple of the alignment are not. Where that may happen,
    /// [`Tensor::to_cow`] borrows when it can and copies when it must, and
    /// [`Tensor::to_vec`] always copies.
    ///
    /// # Errors
    ///
    /// - [`InvalidData`](crate::ErrorKind::InvalidData) when `T` is not this
    ///   tensor's dtype (the message names both), or when the bytes are not
    ///   aligned for `T` (the message says so).
    /// - [`Unsupported`](crate::ErrorKind::Unsupported) on a big-endian host.
    ///
    /// ```
    /// # use tq_core::{ErrorKind, Tensor};
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2])?;
    /// assert_eq!(t.as_slice::<f32>()?, &[1.0, 2.0, 3.0, 4.0]);
    /// let err = t.as_slice::<i64>().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidData);
    /// assert!(err.message().contains("float32") && err.message().contains("int64"));
    /// # Ok::<(), tq_core::Error>(())
    /// ```
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        self.check_element::<T>()?;
        if self.data.is_empty() {
            // An empty `Bytes` may point anywhere; no element is read.
            return Ok(&[]);
        }
        bytemuck::try_cast_slice(&self.data).map_err(|e| {
            Error::invalid_data(format!(
                "the bytes of this {} tensor are not aligned for {}: {e}; \
                 use to_cow or to_vec, which copy when they must",
                self.dtype,
                std::any::type_name::<T>()
            ))
        })
    }

    /// The elements, borrowed when the bytes are aligned for `T` (as
    /// [`Tensor::as_slice`]) and copied when they are not: the typed read
    /// that always works and copies only when it must.
    ///
    /// # Errors
    ///
    /// As [`Tensor::to_vec`]: a dtype other than `T`'s, a big-endian host,
    /// or no memory for the copy.
    ///
    /// ```
    /// # use tq_core::{Bytes, DType, Tensor};
    /// // Two i32 at an odd offset of a larger buffer: not aligned for i32.
    /// let buffer = Bytes::from(vec![0u8, 1, 0, 0, 0, 2, 0, 0, 0]);
    /// let t = Tensor::new(DType::I32, [2], buffer.slice(1..))?;
    /// assert_eq!(&*t.to_cow::<i32>()?, &[1, 2]);
    /// # Ok::<(), tq_core::Error>(())
    /// ```
    pub fn to_cow<T: Element>(&self) -> Result<Cow<'_, [T]>> {
        self.check_element::<T>()?;
        match self.as_slice::<T>() {
            Ok(slice) => Ok(Cow::Borrowed(slice)),
            // The dtype is right, so only the alignment failed: copy.
            Err(_) => self.to_vec().map(Cow::Owned),
        }
    }

    /// The elements copied into a new `Vec`, whatever the alignment of the
    /// bytes.
    ///
    /// # Errors
    ///
    /// - [`InvalidData`](crate::ErrorKind::InvalidData) when `T` is not this
    ///   tensor's dtype (the message names both).
    /// - [`CapacityExceeded`](crate::ErrorKind::CapacityExceeded) when the
    ///   allocator refuses the memory for the copy.
    /// - [`Unsupported`](crate::ErrorKind::Unsupported) on a big-endian host.
    ///
    /// ```
    /// # use tq_core::Tensor;
    /// let t = Tensor::from_vec(vec![1i64, 2, 3, 4], [2, 2])?;
    /// assert_eq!(t.to_vec::<i64>()?, vec![1, 2, 3, 4]);
    /// # Ok::<(), tq_core::Error>(())
    /// ```
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        self.check_element::<T>()?;
        let mut out = try_vec::<T>(self.numel())?;
        out.resize(self.numel(), T::zeroed());
        bytemuck::cast_slice_mut::<T, u8>(&mut out).copy_from_slice(&self.data);
        Ok(out)
    }

    /// A [`DType::Bool`] tensor of `values` (each stored as one byte, 0 or
    /// 1), copied.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`](crate::ErrorKind::InvalidArgument) when `shape`
    /// does not hold `values.len()` elements.
    ///
    /// ```
    /// # use tq_core::{DType, Tensor};
    /// let mask = Tensor::from_bools(&[true, false, true, true], [2, 2])?;
    /// assert_eq!(mask.dtype(), DType::Bool);
    /// assert_eq!(mask.as_bools()?, &[true, false, true, true]);
    /// # Ok::<(), tq_core::Error>(())
    /// ```
    pub fn from_bools(values: &[bool], shape: impl Into<Vec<usize>>) -> Result<Self> {
        let bytes: Vec<u8> = values.iter().map(|&b| u8::from(b)).collect();
        Self::new(DType::Bool, shape, bytes)
    }

    /// The elements of a [`DType::Bool`] tensor as `bool`s, without copying
    /// (a `bool` is one byte, so alignment never matters).
    ///
    /// # Errors
    ///
    /// [`InvalidData`](crate::ErrorKind::InvalidData) when the tensor's
    /// dtype is not `bool` (the message names it), or when a byte is neither
    /// 0 nor 1 (the message gives its index).
    pub fn as_bools(&self) -> Result<&[bool]> {
        if self.dtype != DType::Bool {
            return Err(Error::invalid_data(format!(
                "tensor has dtype {}, asked for bool",
                self.dtype
            )));
        }
        bytemuck::checked::try_cast_slice(&self.data).map_err(|_| {
            let (index, byte) = self
                .data
                .iter()
                .enumerate()
                .find(|(_, b)| **b > 1)
                .map_or((0, 0), |(i, b)| (i, *b));
            Error::invalid_data(format!(
                "bool tensor element {index} is the byte {byte}, not 0 or 1"
            ))
        })
    }

    /// The elements of a floating-point tensor widened to `f32`: exact for
    /// [`DType::F16`] and [`DType::BF16`] (which have no stable Rust type,
    /// so this is how to read them), a copy for [`DType::F32`]. Works on any
    /// host and any alignment.
    ///
    /// # Errors
    ///
    /// - [`InvalidData`](crate::ErrorKind::InvalidData) for any other dtype
    ///   (the message names it; `f64` would lose precision, read it with
    ///   [`Tensor::to_vec::<f64>`](Tensor::to_vec)).
    /// - [`CapacityExceeded`](crate::ErrorKind::CapacityExceeded) when the
    ///   allocator refuses the memory.
    ///
    /// ```
    /// # use tq_core::{DType, Tensor};
    /// // 1.0 and -2.5 as bfloat16 (the high halves of their f32 bits).
    /// let bytes = [0x80, 0x3f, 0x20, 0xc0];
    /// let t = Tensor::new(DType::BF16, [2], bytes.to_vec())?;
    /// assert_eq!(t.to_f32_vec()?, vec![1.0, -2.5]);
    /// # Ok::<(), tq_core::Error>(())
    /// ```
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        let widen: fn(&[u8]) -> f32 = match self.dtype {
            DType::F16 => |b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            DType::BF16 => |b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16),
            DType::F32 => |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            other => {
                return Err(Error::invalid_data(format!(
                    "to_f32_vec reads float16, bfloat16 and float32 tensors; this one is {other}"
                )));
            }
        };
        let mut out = try_vec::<f32>(self.numel())?;
        out.extend(self.data.chunks_exact(self.dtype.size()).map(widen));
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
        Tensor {
            dtype,
            shape,
            data,
            origin: None,
        }
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

/// An empty `Vec` with room for `len` elements, or `CapacityExceeded` when
/// the allocator refuses (which `Vec::with_capacity` would turn into an
/// abort).
fn try_vec<T>(len: usize) -> Result<Vec<T>> {
    let mut out = Vec::new();
    out.try_reserve_exact(len).map_err(|_| {
        Error::new(
            crate::ErrorKind::CapacityExceeded,
            format!("cannot allocate {len} tensor elements"),
        )
    })?;
    Ok(out)
}

/// An IEEE 754 half-precision value, exactly, as `f32`.
fn f16_to_f32(h: u16) -> f32 {
    let negative = h & 0x8000 != 0;
    let exponent = u32::from((h >> 10) & 0x1f);
    let mantissa = u32::from(h & 0x3ff);
    let magnitude = match exponent {
        // Zero and subnormals: mantissa x 2^-24, exact in f32.
        0 => mantissa as f32 / (1u32 << 24) as f32,
        // Infinity and NaN (the payload kept).
        0x1f => f32::from_bits(0x7f80_0000 | (mantissa << 13)),
        // Normal: rebias the exponent from 15 to 127.
        _ => f32::from_bits(((exponent + 127 - 15) << 23) | (mantissa << 13)),
    };
    if negative { -magnitude } else { magnitude }
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

    /// A tensor of `values` whose bytes start at an address that is odd,
    /// so never aligned for a type wider than one byte.
    fn misaligned<T: Element>(values: &[T]) -> Tensor {
        let raw: &[u8] = bytemuck::cast_slice(values);
        let mut buffer = vec![0u8; raw.len() + 1];
        let start = if (buffer.as_ptr() as usize).is_multiple_of(2) {
            1
        } else {
            0
        };
        buffer.truncate(start + raw.len());
        buffer[start..].copy_from_slice(raw);
        let shape = [values.len()];
        Tensor::new(T::DTYPE, shape, Bytes::from(buffer).slice(start..)).unwrap()
    }

    #[test]
    fn misaligned_bytes_are_an_error_for_as_slice_and_copied_by_the_others() {
        let values = [1.5f64, -2.0, 3.25];
        let t = misaligned(&values);
        assert!(!(t.data().as_ptr() as usize).is_multiple_of(2));
        let err = t.as_slice::<f64>().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        assert!(err.message().contains("not aligned"), "{err}");
        assert!(err.message().contains("to_vec"), "{err}");
        let cow = t.to_cow::<f64>().unwrap();
        assert!(matches!(cow, Cow::Owned(_)));
        assert_eq!(&*cow, &values);
        assert_eq!(t.to_vec::<f64>().unwrap(), values);
        // Aligned bytes are borrowed, not copied.
        let t = Tensor::from_vec(values.to_vec(), [3]).unwrap();
        let cow = t.to_cow::<f64>().unwrap();
        assert!(matches!(cow, Cow::Borrowed(_)));
        assert_eq!(cow.as_ptr() as *const u8, t.data().as_ptr());
    }

    #[test]
    fn a_wrong_dtype_names_both_and_never_panics() {
        let t = Tensor::from_vec(vec![1u16, 2], [2]).unwrap();
        for err in [
            t.as_slice::<i16>().unwrap_err(),
            t.to_vec::<i16>().unwrap_err(),
            t.to_cow::<i16>().unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::InvalidData);
            assert!(err.message().contains("uint16"), "{err}");
            assert!(err.message().contains("int16"), "{err}");
        }
        let err = t.as_bools().unwrap_err();
        assert!(err.message().contains("uint16"), "{err}");
        let err = t.to_f32_vec().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        assert!(err.message().contains("uint16"), "{err}");
    }

    #[test]
    fn empty_tensors_read_as_empty_slices_whatever_their_pointer() {
        for t in [
            Tensor::new(DType::F64, [0], Bytes::new()).unwrap(),
            Tensor::new(
                DType::F64,
                [2, 0],
                Bytes::from_static(&[1, 2, 3]).slice(1..1),
            )
            .unwrap(),
        ] {
            assert_eq!(t.as_slice::<f64>().unwrap(), &[] as &[f64]);
            assert!(t.to_vec::<f64>().unwrap().is_empty());
            assert!(t.to_cow::<f64>().unwrap().is_empty());
        }
    }

    #[test]
    fn bools_round_trip_and_bad_bytes_are_invalid_data() {
        let values = [true, false, false, true, true, false];
        let t = Tensor::from_bools(&values, [2, 3]).unwrap();
        assert_eq!(t.dtype(), DType::Bool);
        assert_eq!(t.data().as_ref(), &[1, 0, 0, 1, 1, 0]);
        assert_eq!(t.as_bools().unwrap(), &values);
        assert!(Tensor::from_bools(&values, [4]).is_err());
        let t = Tensor::new(DType::Bool, [3], vec![0u8, 1, 7]).unwrap();
        let err = t.as_bools().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        assert!(err.message().contains("element 2"), "{err}");
        assert!(err.message().contains("byte 7"), "{err}");
    }

    #[test]
    fn half_floats_widen_exactly() {
        // (f16 bits, value)
        let f16_cases: [(u16, f32); 9] = [
            (0x0000, 0.0),
            (0x3c00, 1.0),
            (0xc000, -2.0),
            (0x3555, 0.333_251_95),
            (0x7bff, 65504.0),
            (0x0001, 5.960_464_5e-8), // smallest subnormal, 2^-24
            (0x03ff, 6.097_555e-5),   // largest subnormal
            (0x7c00, f32::INFINITY),
            (0xfc00, f32::NEG_INFINITY),
        ];
        let bytes: Vec<u8> = f16_cases
            .iter()
            .flat_map(|(h, _)| h.to_le_bytes())
            .collect();
        let t = Tensor::new(DType::F16, [f16_cases.len()], bytes).unwrap();
        let got = t.to_f32_vec().unwrap();
        for ((bits, want), got) in f16_cases.iter().zip(&got) {
            assert_eq!(got.to_bits(), want.to_bits(), "f16 {bits:#06x}");
        }
        let nan = Tensor::new(DType::F16, [1], 0x7e00u16.to_le_bytes().to_vec()).unwrap();
        assert!(nan.to_f32_vec().unwrap()[0].is_nan());
        let neg_zero = Tensor::new(DType::F16, [1], 0x8000u16.to_le_bytes().to_vec()).unwrap();
        assert_eq!(
            neg_zero.to_f32_vec().unwrap()[0].to_bits(),
            (-0.0f32).to_bits()
        );

        // bfloat16 is the high half of an f32.
        let values = [1.0f32, -2.5, 3.0e38, f32::MIN_POSITIVE];
        let bytes: Vec<u8> = values
            .iter()
            .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
            .collect();
        let t = Tensor::new(DType::BF16, [4], bytes).unwrap();
        let want: Vec<f32> = values
            .iter()
            .map(|v| f32::from_bits(v.to_bits() & 0xffff_0000))
            .collect();
        assert_eq!(t.to_f32_vec().unwrap(), want);

        // f32 at any alignment.
        let t = misaligned(&[0.5f32, -1.0]);
        assert_eq!(t.to_f32_vec().unwrap(), vec![0.5, -1.0]);
        assert_eq!(
            Tensor::from_vec(vec![1.0f64], [1])
                .unwrap()
                .to_f32_vec()
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidData
        );
    }
}
