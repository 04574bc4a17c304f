//! The tensor column of a batch (contract G5): one contiguous buffer plus per-row
//! shapes and offsets, whatever the shapes.

use std::fmt;

use bytes::Bytes;

use crate::buffer::OutputBuffer;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::tensor::{Tensor, tensor_nbytes, try_alloc_zeroed};

/// N tensors of one dtype stored back to back in one buffer.
///
/// This is the one type a get returns for a tensor field, whether the rows
/// share a shape (then [`TensorColumn::as_dense`] is a zero-copy view) or not
/// (then use [`TensorColumn::row`] or [`TensorColumn::to_padded`]).
#[derive(Clone, PartialEq, Eq)]
pub struct TensorColumn {
    dtype: DType,
    data: Bytes,
    shapes: Vec<Vec<usize>>,
    /// `offsets[i]..offsets[i + 1]` is row i's byte range; `len() + 1` entries.
    offsets: Vec<usize>,
}

impl TensorColumn {
    /// Views a dense tensor with leading dimension N as N rows of shape
    /// `shape[1..]`, without copying.
    pub fn from_dense(tensor: Tensor) -> Result<Self> {
        let Some((&n, row_shape)) = tensor.shape().split_first() else {
            return Err(Error::invalid_argument(
                "a dense column needs a tensor with at least one dimension (the batch dimension)",
            ));
        };
        let row_bytes = tensor_nbytes(tensor.dtype(), row_shape)?;
        let row_shape = row_shape.to_vec();
        Ok(TensorColumn {
            dtype: tensor.dtype(),
            shapes: vec![row_shape; n],
            offsets: (0..=n).map(|i| i * row_bytes).collect(),
            data: tensor.into_data(),
        })
    }

    /// Copies `rows` into one buffer. All rows must share a dtype.
    pub fn from_rows(rows: &[Tensor]) -> Result<Self> {
        let dtype = common_dtype(rows.iter())?.unwrap_or(DType::U8);
        Ok(Self::concat(dtype, rows.iter()))
    }

    /// A column over `data` with the given per-row shapes, laid out back to
    /// back. Fails when the shapes do not account for exactly `data.len()`
    /// bytes.
    pub fn from_parts(dtype: DType, data: Bytes, shapes: Vec<Vec<usize>>) -> Result<Self> {
        let mut offsets = Vec::with_capacity(shapes.len() + 1);
        offsets.push(0usize);
        for shape in &shapes {
            let end = offsets[offsets.len() - 1]
                .checked_add(tensor_nbytes(dtype, shape)?)
                .ok_or_else(|| Error::invalid_argument("column size overflows"))?;
            offsets.push(end);
        }
        if offsets[offsets.len() - 1] != data.len() {
            return Err(Error::invalid_argument(format!(
                "row shapes need {} bytes of {dtype}, got {}",
                offsets[offsets.len() - 1],
                data.len()
            )));
        }
        Ok(TensorColumn {
            dtype,
            data,
            shapes,
            offsets,
        })
    }

    /// Concatenates tensors already checked to be of `dtype`: one allocation,
    /// one copy of each row; none when the rows are consecutive pieces of one
    /// column buffer ([`Tensor::in_column`]).
    pub(crate) fn concat<'a>(dtype: DType, rows: impl Iterator<Item = &'a Tensor> + Clone) -> Self {
        if let Some(column) = Self::in_place(dtype, rows.clone()) {
            return column;
        }
        let total: usize = rows.clone().map(Tensor::nbytes).sum();
        let mut buf = OutputBuffer::new(total);
        let mut shapes = Vec::new();
        let mut offsets = vec![0usize];
        let mut end = 0usize;
        for row in rows {
            buf.push(row.data());
            end += row.nbytes();
            offsets.push(end);
            shapes.push(row.shape().to_vec());
        }
        TensorColumn {
            dtype,
            data: buf.freeze(),
            shapes,
            offsets,
        }
    }

    /// The column `rows` already are, without a copy: when every row is
    /// cut from the same column buffer, each starting where the one before
    /// ends.
    fn in_place<'a>(dtype: DType, mut rows: impl Iterator<Item = &'a Tensor>) -> Option<Self> {
        let first = rows.next()?;
        let (buffer, start) = first.origin()?;
        let mut shapes = vec![first.shape().to_vec()];
        let mut offsets = vec![0, first.nbytes()];
        let mut last = first;
        for row in rows {
            if !last.continued_by(row) {
                return None;
            }
            offsets.push(offsets[offsets.len() - 1] + row.nbytes());
            shapes.push(row.shape().to_vec());
            last = row;
        }
        let end = start + offsets[offsets.len() - 1];
        Some(TensorColumn {
            dtype,
            data: buffer.slice(*start..end),
            shapes,
            offsets,
        })
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    /// The dtype of every row.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The contiguous buffer of all rows.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// Each row's shape.
    pub fn shapes(&self) -> &[Vec<usize>] {
        &self.shapes
    }

    /// Byte offsets into [`TensorColumn::data`]; row i is
    /// `offsets[i]..offsets[i + 1]`.
    pub fn offsets(&self) -> &[usize] {
        &self.offsets
    }

    /// Row `i` as a tensor sharing this column's buffer, or `None` past the end.
    pub fn row(&self, i: usize) -> Option<Tensor> {
        let shape = self.shapes.get(i)?;
        let bytes = self.data.slice(self.offsets[i]..self.offsets[i + 1]);
        Some(Tensor::from_trusted_parts(self.dtype, shape.clone(), bytes))
    }

    /// All rows, each sharing this column's buffer.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = Tensor> + '_ {
        self.shapes.iter().enumerate().map(|(i, shape)| {
            let bytes = self.data.slice(self.offsets[i]..self.offsets[i + 1]);
            Tensor::from_trusted_parts(self.dtype, shape.clone(), bytes)
        })
    }

    /// The shape every row has, if they all agree (and there is at least one row).
    pub fn uniform_shape(&self) -> Option<&[usize]> {
        let first = self.shapes.first()?;
        self.shapes
            .iter()
            .all(|s| s == first)
            .then_some(first.as_slice())
    }

    /// The whole column as one tensor of shape `[N, row_shape...]`, without
    /// copying, when every row has the same shape. An empty column has no
    /// row shape and gives `None`.
    pub fn as_dense(&self) -> Option<Tensor> {
        let row_shape = self.uniform_shape()?;
        let mut shape = Vec::with_capacity(row_shape.len() + 1);
        shape.push(self.len());
        shape.extend_from_slice(row_shape);
        Some(Tensor::from_trusted_parts(
            self.dtype,
            shape,
            self.data.clone(),
        ))
    }

    /// The column padded with zeros to `[N, max_0, max_1, ...]`. Rows must
    /// have the same number of dimensions, else `InvalidData`.
    pub fn to_padded_zeros(&self) -> Result<Tensor> {
        self.pad_with(&vec![0u8; self.dtype.size()])
    }

    /// The column padded with `pad` to `[N, max_0, max_1, ...]`. `T` must be
    /// the column's dtype; rows must have the same number of dimensions.
    pub fn to_padded<T: Element>(&self, pad: T) -> Result<Tensor> {
        if T::DTYPE != self.dtype {
            return Err(Error::invalid_data(format!(
                "column has dtype {}, pad value is {}",
                self.dtype,
                T::DTYPE
            )));
        }
        self.pad_with(bytemuck::bytes_of(&pad))
    }

    fn pad_with(&self, pad: &[u8]) -> Result<Tensor> {
        let ndim = self.shapes.first().map_or(0, Vec::len);
        if self.shapes.iter().any(|s| s.len() != ndim) {
            return Err(Error::invalid_data(
                "cannot pad rows with different numbers of dimensions",
            ));
        }
        let mut max = vec![0usize; ndim];
        for s in &self.shapes {
            for (m, d) in max.iter_mut().zip(s) {
                *m = (*m).max(*d);
            }
        }
        let mut out_shape = vec![self.len()];
        out_shape.extend_from_slice(&max);
        let total = tensor_nbytes(self.dtype, &out_shape)?;
        let mut out = try_alloc_zeroed(total)?;
        if pad.iter().any(|&b| b != 0) {
            out.chunks_exact_mut(pad.len())
                .for_each(|c| c.copy_from_slice(pad));
        }
        let row_elems: usize = max.iter().product();
        let es = self.dtype.size();
        for (i, shape) in self.shapes.iter().enumerate() {
            let src = &self.data[self.offsets[i]..self.offsets[i + 1]];
            copy_padded(
                src,
                shape,
                &mut out[i * row_elems * es..(i + 1) * row_elems * es],
                &max,
                es,
            );
        }
        Tensor::new(self.dtype, out_shape, out)
    }
}

/// Copies a row-major block of `shape` into the leading corner of a
/// row-major block of `max` (both in elements of `es` bytes).
fn copy_padded(src: &[u8], shape: &[usize], dst: &mut [u8], max: &[usize], es: usize) {
    match shape.len() {
        0 => dst[..es].copy_from_slice(&src[..es]),
        1 => dst[..shape[0] * es].copy_from_slice(&src[..shape[0] * es]),
        _ => {
            let src_stride: usize = shape[1..].iter().product::<usize>() * es;
            let dst_stride: usize = max[1..].iter().product::<usize>() * es;
            for j in 0..shape[0] {
                copy_padded(
                    &src[j * src_stride..(j + 1) * src_stride],
                    &shape[1..],
                    &mut dst[j * dst_stride..(j + 1) * dst_stride],
                    &max[1..],
                    es,
                );
            }
        }
    }
}

/// The dtype all `tensors` share, `None` for no tensors, or an error naming
/// the two dtypes that differ.
pub(crate) fn common_dtype<'a>(
    mut tensors: impl Iterator<Item = &'a Tensor>,
) -> Result<Option<DType>> {
    let Some(first) = tensors.next().map(Tensor::dtype) else {
        return Ok(None);
    };
    match tensors.find(|t| t.dtype() != first) {
        Some(other) => Err(Error::invalid_data(format!(
            "rows have different dtypes ({first} and {})",
            other.dtype()
        ))),
        None => Ok(Some(first)),
    }
}

impl fmt::Debug for TensorColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TensorColumn")
            .field("dtype", &self.dtype)
            .field("rows", &self.len())
            .field("uniform_shape", &self.uniform_shape())
            .field("nbytes", &self.data.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows cut one after another from one column buffer become the column
    /// without a copy; any other arrangement is copied, with the same
    /// values.
    #[test]
    fn rows_consecutive_in_one_buffer_are_not_copied() {
        let values: Vec<f32> = (0..24).map(|x| x as f32).collect();
        let buffer = Bytes::copy_from_slice(bytemuck::cast_slice(&values));
        let row =
            |i: usize, len: usize| Tensor::in_column(DType::F32, [len], &buffer, 4 * i).unwrap();
        // Jagged rows: 0..4, 4..10, 10..12 (elements).
        let rows = [row(0, 4), row(4, 6), row(10, 2)];
        let column = TensorColumn::concat(DType::F32, rows.iter());
        assert_eq!(
            column.data().as_ptr(),
            buffer.as_ptr(),
            "consecutive rows were copied"
        );
        assert_eq!(column.data().len(), 48);
        assert_eq!(column.offsets(), &[0, 16, 40, 48]);
        assert_eq!(column.row(1).unwrap(), rows[1]);

        // A later start needs no copy either.
        let tail = [row(12, 4), row(16, 8)];
        let column = TensorColumn::concat(DType::F32, tail.iter());
        assert_eq!(column.data().as_ptr(), buffer[48..].as_ptr());

        let other = Bytes::copy_from_slice(bytemuck::cast_slice(&values));
        let foreign = Tensor::in_column(DType::F32, [6], &other, 16).unwrap();
        let plain = Tensor::from_vec(values[4..10].to_vec(), [6]).unwrap();
        for (what, arranged) in [
            ("out of order", vec![rows[1].clone(), rows[0].clone()]),
            ("a gap", vec![rows[0].clone(), rows[2].clone()]),
            ("a row repeated", vec![rows[0].clone(), rows[0].clone()]),
            ("another buffer", vec![rows[0].clone(), foreign]),
            ("a plain tensor", vec![rows[0].clone(), plain]),
        ] {
            let column = TensorColumn::concat(DType::F32, arranged.iter());
            let ptr = column.data().as_ptr() as usize;
            let inside = buffer.as_ptr() as usize..buffer.as_ptr() as usize + buffer.len();
            assert!(!inside.contains(&ptr), "{what}: not copied");
            let got: Vec<Tensor> = column.rows().collect();
            assert_eq!(got, arranged, "{what}");
        }
    }

    #[test]
    fn a_tensor_past_its_column_buffer_is_refused() {
        let buffer = Bytes::from(vec![0u8; 16]);
        assert!(Tensor::in_column(DType::F32, [4], &buffer, 0).is_ok());
        for (shape, start) in [(4usize, 4usize), (1, 13), (0, 17), (2, usize::MAX)] {
            let err = Tensor::in_column(DType::F32, [shape], &buffer, start).unwrap_err();
            assert_eq!(
                err.kind(),
                crate::ErrorKind::InvalidArgument,
                "{shape} at {start}"
            );
        }
    }

    #[test]
    fn dense_view_is_zero_copy_both_ways() {
        let t = Tensor::from_vec((0..12).map(|x| x as f32).collect(), [3, 4]).unwrap();
        let ptr = t.data().as_ptr();
        let col = TensorColumn::from_dense(t).unwrap();
        assert_eq!(col.len(), 3);
        assert_eq!(
            col.row(1).unwrap().to_vec::<f32>().unwrap(),
            vec![4.0, 5.0, 6.0, 7.0]
        );
        assert_eq!(col.row(1).unwrap().data().as_ptr(), unsafe { ptr.add(16) });
        let dense = col.as_dense().unwrap();
        assert_eq!(dense.shape(), &[3, 4]);
        assert_eq!(dense.data().as_ptr(), ptr);
        assert!(col.row(3).is_none());
    }

    #[test]
    fn jagged_rows_pad() {
        let rows = vec![
            Tensor::from_vec(vec![1i32, 2, 3], [3]).unwrap(),
            Tensor::from_vec(vec![4i32], [1]).unwrap(),
        ];
        let col = TensorColumn::from_rows(&rows).unwrap();
        assert!(col.as_dense().is_none());
        assert_eq!(col.offsets(), &[0, 12, 16]);
        let padded = col.to_padded(-1i32).unwrap();
        assert_eq!(padded.shape(), &[2, 3]);
        assert_eq!(padded.to_vec::<i32>().unwrap(), vec![1, 2, 3, 4, -1, -1]);
        let zeros = col.to_padded_zeros().unwrap();
        assert_eq!(zeros.to_vec::<i32>().unwrap(), vec![1, 2, 3, 4, 0, 0]);
        assert!(col.to_padded(0f32).is_err());
    }

    #[test]
    fn two_dimensional_padding() {
        let rows = vec![
            Tensor::from_vec(vec![1u8, 2, 3, 4], [2, 2]).unwrap(),
            Tensor::from_vec(vec![5u8, 6, 7], [1, 3]).unwrap(),
        ];
        let padded = TensorColumn::from_rows(&rows)
            .unwrap()
            .to_padded(9u8)
            .unwrap();
        assert_eq!(padded.shape(), &[2, 2, 3]);
        assert_eq!(
            padded.to_vec::<u8>().unwrap(),
            vec![1, 2, 9, 3, 4, 9, 5, 6, 7, 9, 9, 9]
        );
        let mixed_ndim = vec![
            Tensor::from_vec(vec![1u8], [1]).unwrap(),
            Tensor::from_vec(vec![1u8], [1, 1]).unwrap(),
        ];
        assert!(
            TensorColumn::from_rows(&mixed_ndim)
                .unwrap()
                .to_padded(0u8)
                .is_err()
        );
    }

    #[test]
    fn from_rows_rejects_mixed_dtypes_and_from_parts_checks_length() {
        let rows = vec![
            Tensor::from_vec(vec![1u8], [1]).unwrap(),
            Tensor::from_vec(vec![1i8], [1]).unwrap(),
        ];
        assert!(TensorColumn::from_rows(&rows).is_err());
        assert!(
            TensorColumn::from_parts(
                DType::F32,
                Bytes::from(vec![0u8; 8]),
                vec![vec![1], vec![1]]
            )
            .is_ok()
        );
        assert!(
            TensorColumn::from_parts(
                DType::F32,
                Bytes::from(vec![0u8; 7]),
                vec![vec![1], vec![1]]
            )
            .is_err()
        );
    }
}
