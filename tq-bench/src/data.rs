//! The payload of the perftest: `fields` float32 columns of `batch` rows,
//! dense (every row `seq_len` long) or jagged (row lengths 1..=seq_len).

use tq_facade::{Batch, Bytes, DType, Tensor};

/// The shape of one workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    /// Rows per put (the Python perftest's `global_batch_size`).
    pub batch: usize,
    /// Float32 fields per row.
    pub fields: usize,
    /// Elements per row (the longest row, when jagged).
    pub seq_len: usize,
    /// Rows run from 1 to `seq_len` elements, linearly, instead of all `seq_len`.
    pub jagged: bool,
}

impl Shape {
    /// Elements of row `i`.
    pub fn row_len(&self, i: usize) -> usize {
        if !self.jagged || self.batch <= 1 {
            return self.seq_len;
        }
        1 + i * (self.seq_len.saturating_sub(1)) / (self.batch - 1)
    }

    /// Bytes of one field (all rows).
    pub fn field_bytes(&self) -> usize {
        (0..self.batch).map(|i| self.row_len(i) * 4).sum()
    }

    /// Bytes of the whole payload.
    pub fn payload_bytes(&self) -> usize {
        self.field_bytes() * self.fields
    }

    /// A short label such as `1024x9x8192` or `1024x9x1..8192 jagged`.
    pub fn label(&self) -> String {
        if self.jagged {
            format!("{}x{}x1..{} jagged", self.batch, self.fields, self.seq_len)
        } else {
            format!("{}x{}x{}", self.batch, self.fields, self.seq_len)
        }
    }
}

/// One field's bytes: one buffer, and the rows as tensors over it.
#[derive(Debug, Clone)]
pub struct FieldData {
    /// The field name, `field_<i>` as in the Python perftest.
    pub name: String,
    /// All rows back to back (what a get returns as the column's buffer).
    pub data: Bytes,
    /// `offsets[i]..offsets[i + 1]` is row i.
    pub offsets: Vec<usize>,
    /// The dense `[batch, seq_len]` tensor, or `None` when jagged.
    pub dense: Option<Tensor>,
    /// The jagged rows, slices of `data` (empty when dense).
    pub rows: Vec<Tensor>,
}

impl FieldData {
    /// Row `i`'s bytes.
    pub fn row_bytes(&self, i: usize) -> &[u8] {
        &self.data[self.offsets[i]..self.offsets[i + 1]]
    }
}

/// The caller's data of a workload: keys and fields, generated once and
/// reused by every iteration (a put shares the bytes, it never consumes them).
#[derive(Debug, Clone)]
pub struct Payload {
    /// The shape it was made for.
    pub shape: Shape,
    /// `test_key_<i>`, one per row.
    pub keys: Vec<String>,
    /// The fields.
    pub fields: Vec<FieldData>,
}

/// xorshift64*: fast, deterministic filler for benchmark data.
struct Rng(u64);

impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        // 24 random mantissa bits in [-1, 1).
        ((x >> 40) as f32 / (1u64 << 23) as f32) - 1.0
    }
}

impl Payload {
    /// Random float32 data of `shape`.
    pub fn generate(shape: Shape, seed: u64) -> tq_facade::Result<Self> {
        let mut rng = Rng(seed | 1);
        let keys = (0..shape.batch).map(|i| format!("test_key_{i}")).collect();
        let mut offsets = Vec::with_capacity(shape.batch + 1);
        offsets.push(0);
        for i in 0..shape.batch {
            offsets.push(offsets[i] + shape.row_len(i) * 4);
        }
        let mut fields = Vec::with_capacity(shape.fields);
        for f in 0..shape.fields {
            let n = shape.field_bytes() / 4;
            let values: Vec<f32> = (0..n).map(|_| rng.next_f32()).collect();
            let name = format!("field_{f}");
            let (data, dense, rows) = if shape.jagged {
                let data = Tensor::from_vec_1d(values).into_data();
                let rows = (0..shape.batch)
                    .map(|i| {
                        Tensor::new(
                            DType::F32,
                            [shape.row_len(i)],
                            data.slice(offsets[i]..offsets[i + 1]),
                        )
                    })
                    .collect::<tq_facade::Result<Vec<_>>>()?;
                (data, None, rows)
            } else {
                let t = Tensor::from_vec(values, [shape.batch, shape.seq_len])?;
                (t.data().clone(), Some(t), Vec::new())
            };
            fields.push(FieldData {
                name,
                data,
                offsets: offsets.clone(),
                dense,
                rows,
            });
        }
        Ok(Payload {
            shape,
            keys,
            fields,
        })
    }

    /// The batch for one put. Cheap: the tensors share the payload's bytes.
    pub fn batch(&self) -> tq_facade::Result<Batch> {
        let mut batch = Batch::new(self.shape.batch);
        for f in &self.fields {
            batch = match &f.dense {
                Some(t) => batch.with_dense(f.name.clone(), t.clone())?,
                None => batch.with_jagged(f.name.clone(), f.rows.clone())?,
            };
        }
        Ok(batch)
    }

    /// Each field's contiguous bytes.
    pub fn field_slices(&self) -> Vec<&[u8]> {
        self.fields.iter().map(|f| &f.data[..]).collect()
    }

    /// Every cell as (row, field, bytes), row-major.
    pub fn cells(&self) -> impl Iterator<Item = (usize, usize, &[u8])> {
        (0..self.shape.batch).flat_map(move |r| {
            self.fields
                .iter()
                .enumerate()
                .map(move |(f, data)| (r, f, data.row_bytes(r)))
        })
    }

    /// The payload size in bytes.
    pub fn bytes(&self) -> usize {
        self.shape.payload_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jagged_rows_run_from_one_to_seq_len() {
        let s = Shape {
            batch: 5,
            fields: 2,
            seq_len: 9,
            jagged: true,
        };
        let lens: Vec<usize> = (0..5).map(|i| s.row_len(i)).collect();
        assert_eq!(lens, [1, 3, 5, 7, 9]);
        let p = Payload::generate(s, 7).unwrap();
        assert_eq!(p.bytes(), 2 * 25 * 4);
        assert_eq!(p.cells().count(), 10);
        assert_eq!(p.batch().unwrap().num_columns(), 2);
    }
}
