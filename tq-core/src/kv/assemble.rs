//! Building a get's columns from the rows a backend returned.
//!
//! A tensor column is one copy of its rows into one buffer: for a large
//! get, tens to hundreds of milliseconds of `memcpy` (302 MB: about 45 ms
//! on this machine's one core). Done inline, that would hold an async
//! worker thread for the whole copy and copy one field after another; a
//! get of at least [`PARALLEL_BYTES`] instead copies on Tokio's blocking
//! threads, the fields split into up to [`max_threads`] groups of about
//! equal bytes, copied side by side. Smaller gets, gets with one field, and
//! gets outside a Tokio runtime assemble inline.

use std::sync::OnceLock;

use crate::batch::Column;
use crate::column::{TensorColumn, common_dtype};
use crate::error::{Error, Result};
use crate::value::{NonTensor, Value};

/// Gets whose cells add up to at least this many bytes assemble their
/// columns on blocking threads.
pub(crate) const PARALLEL_BYTES: usize = 8 << 20;

/// The most threads one get copies with: the machine's parallelism, at
/// most 4 (memory bandwidth, not cores, bounds a copy beyond that). Asked
/// once per process: `available_parallelism` reads the cgroup's CPU quota
/// from files on every call (on this machine it was the costliest part of
/// a single-key get's client time).
fn max_threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
            .clamp(1, 4)
    })
}

/// One field's values, in output order.
pub(crate) type FieldValues = (String, Vec<Value>);

/// The columns of `fields`, in their order; each error names its field.
pub(crate) async fn columns(fields: Vec<FieldValues>) -> Result<Vec<(String, Column)>> {
    let bytes: Vec<usize> = fields.iter().map(|(_, v)| payload_bytes(v)).collect();
    let total: usize = bytes.iter().sum();
    if total < PARALLEL_BYTES || fields.len() < 2 {
        return fields.into_iter().map(column_of).collect();
    }
    let threads = max_threads().min(fields.len());
    let runtime = tokio::runtime::Handle::try_current();
    let (Ok(runtime), true) = (runtime, threads > 1) else {
        return fields.into_iter().map(column_of).collect();
    };
    let groups = split_by_bytes(&bytes, threads);
    let mut slots: Vec<Option<FieldValues>> = fields.into_iter().map(Some).collect();
    let tasks: Vec<_> = groups
        .iter()
        .map(|group| {
            let mine: Vec<FieldValues> = group.iter().filter_map(|&i| slots[i].take()).collect();
            runtime.spawn_blocking(move || {
                mine.into_iter()
                    .map(column_of)
                    .collect::<Vec<Result<(String, Column)>>>()
            })
        })
        .collect();
    let mut out: Vec<Option<Result<(String, Column)>>> = (0..bytes.len()).map(|_| None).collect();
    for (group, task) in groups.iter().zip(tasks) {
        let built = task
            .await
            .map_err(|e| Error::unexpected(format!("assembling a get's columns: {e}")))?;
        for (&i, column) in group.iter().zip(built) {
            out[i] = Some(column);
        }
    }
    out.into_iter()
        .map(|c| c.unwrap_or_else(|| Err(Error::unexpected("a column was not assembled"))))
        .collect()
}

/// The tensor bytes among `values` (non-tensor values count as 0).
fn payload_bytes(values: &[Value]) -> usize {
    values
        .iter()
        .filter_map(Value::as_tensor)
        .map(|t| t.nbytes())
        .sum()
}

/// `bytes.len()` items split into at most `groups` groups of about equal
/// total bytes (largest first, each to the lightest group), each group's
/// items in ascending order; no group is empty.
fn split_by_bytes(bytes: &[usize], groups: usize) -> Vec<Vec<usize>> {
    let groups = groups.clamp(1, bytes.len().max(1));
    let mut order: Vec<usize> = (0..bytes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(bytes[i]));
    let mut out: Vec<(usize, Vec<usize>)> = vec![(0, Vec::new()); groups];
    for i in order {
        if let Some(lightest) = out.iter_mut().min_by_key(|(load, _)| *load) {
            lightest.0 += bytes[i];
            lightest.1.push(i);
        }
    }
    out.into_iter()
        .filter(|(_, items)| !items.is_empty())
        .map(|(_, mut items)| {
            items.sort_unstable();
            items
        })
        .collect()
}

/// One field's column; an error names the field.
fn column_of((field, values): FieldValues) -> Result<(String, Column)> {
    match assemble(&values) {
        Ok(column) => Ok((field, column)),
        Err(e) => Err(e.with_context("field", field)),
    }
}

/// One output column from the rows' values (contract G5, G6): one tensor
/// column (one copy of every row) or the non-tensor values; a mix of both
/// is `InvalidData`.
fn assemble(values: &[Value]) -> Result<Column> {
    let tensors: Vec<_> = values.iter().filter_map(|v| v.as_tensor()).collect();
    if tensors.len() == values.len() {
        let dtype = common_dtype(tensors.iter().copied())?
            .ok_or_else(|| Error::unexpected("a column with no rows"))?;
        return Ok(Column::Tensor(TensorColumn::concat(
            dtype,
            tensors.into_iter(),
        )));
    }
    if tensors.is_empty() {
        let non_tensors: Vec<NonTensor> = values
            .iter()
            .filter_map(|v| v.as_non_tensor())
            .cloned()
            .collect();
        return Ok(Column::NonTensor(non_tensors));
    }
    Err(Error::invalid_data(
        "some rows hold a tensor and others a non-tensor value",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Tensor;

    #[test]
    fn groups_balance_bytes_and_keep_every_item_once() {
        let groups = split_by_bytes(&[10, 1, 9, 2, 8, 3], 2);
        assert_eq!(groups.len(), 2);
        let mut all: Vec<usize> = groups.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3, 4, 5]);
        let loads: Vec<usize> = groups
            .iter()
            .map(|g| g.iter().map(|&i| [10, 1, 9, 2, 8, 3][i]).sum())
            .collect();
        assert!(loads.iter().all(|&l| (16..=17).contains(&l)), "{loads:?}");
        assert_eq!(split_by_bytes(&[5], 4), vec![vec![0]]);
        assert!(split_by_bytes(&[], 3).is_empty());
    }

    fn f32_values(rows: usize, len: usize, base: f32) -> Vec<Value> {
        (0..rows)
            .map(|r| {
                let data: Vec<f32> = (0..len).map(|i| base + (r * len + i) as f32).collect();
                Value::Tensor(Tensor::from_vec(data, [len]).unwrap())
            })
            .collect()
    }

    /// Large gets assemble on blocking threads: the same columns, in the
    /// same order, as inline; errors still name their field.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parallel_assembly_gives_the_inline_columns_in_order() {
        // 5 fields x 64 rows x 8192 f32 = 10 MiB, over PARALLEL_BYTES; one
        // more field of rows of different lengths, one with a repeated row
        // (a key asked for twice) and one of non-tensor values.
        let mut fields: Vec<FieldValues> = (0..5)
            .map(|f| (format!("f{f}"), f32_values(64, 8192, f as f32 * 1e6)))
            .collect();
        let jagged: Vec<Value> = (1..=64)
            .map(|len| {
                Value::Tensor(
                    Tensor::from_vec((0..len).map(|i| i as f32).collect::<Vec<f32>>(), [len])
                        .unwrap(),
                )
            })
            .collect();
        fields.push(("jagged".into(), jagged));
        let mut repeated = f32_values(64, 16, 7.0);
        repeated.push(repeated[3].clone());
        fields.push(("repeated".into(), repeated));
        let texts = (0..64).map(|i| Value::NonTensor(NonTensor::Str(format!("t{i}"))));
        fields.push(("text".into(), texts.collect()));
        let inline: Vec<(String, Column)> = fields
            .clone()
            .into_iter()
            .map(column_of)
            .collect::<Result<_>>()
            .unwrap();
        let parallel = columns(fields.clone()).await.unwrap();
        assert_eq!(parallel.len(), 8);
        for ((a, ca), (b, cb)) in inline.iter().zip(&parallel) {
            assert_eq!(a, b);
            match (ca, cb) {
                (Column::Tensor(ta), Column::Tensor(tb)) => {
                    assert_eq!(ta.data(), tb.data());
                    assert_eq!(ta.shapes(), tb.shapes());
                }
                (Column::NonTensor(na), Column::NonTensor(nb)) => assert_eq!(na, nb),
                _ => panic!("{a}: the inline and parallel columns differ in kind"),
            }
        }
        let mut bad = fields;
        bad[3].1[5] = Value::NonTensor(NonTensor::Json(serde_json::json!(1)));
        let err = columns(bad).await.unwrap_err();
        assert_eq!(err.context_value("field"), Some("f3"), "{err}");
    }
}
