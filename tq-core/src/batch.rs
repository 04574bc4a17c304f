//! A batch: N rows by named columns, the TensorDict analogue.

use indexmap::IndexMap;

use crate::column::{TensorColumn, common_dtype};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use crate::value::{NonTensor, Value};

/// One named column of a [`Batch`].
///
/// Gets always return [`Column::Tensor`] for tensor fields and
/// [`Column::NonTensor`] for the others (type stability, contract G5);
/// [`Column::Jagged`] is an input convenience for rows that arrive as
/// separate tensors.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// N tensors in one buffer; build from a dense tensor with
    /// [`Column::dense`] (zero-copy) or from rows with [`TensorColumn::from_rows`].
    Tensor(TensorColumn),
    /// N separate tensors of one dtype and any shapes, each kept as given.
    Jagged(Vec<Tensor>),
    /// N non-tensor values.
    NonTensor(Vec<NonTensor>),
}

impl Column {
    /// A column over a dense tensor whose leading dimension is the batch; row i
    /// is slice i, shared with the tensor, not copied.
    pub fn dense(tensor: Tensor) -> Result<Self> {
        TensorColumn::from_dense(tensor).map(Column::Tensor)
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        match self {
            Column::Tensor(c) => c.len(),
            Column::Jagged(v) => v.len(),
            Column::NonTensor(v) => v.len(),
        }
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tensor column, if this is one.
    pub fn as_tensor(&self) -> Option<&TensorColumn> {
        match self {
            Column::Tensor(c) => Some(c),
            _ => None,
        }
    }

    /// The non-tensor values, if this is a non-tensor column.
    pub fn as_non_tensor(&self) -> Option<&[NonTensor]> {
        match self {
            Column::NonTensor(v) => Some(v),
            _ => None,
        }
    }

    /// Row i's value: a slice of the buffer for tensors (no copy).
    pub fn value(&self, i: usize) -> Option<Value> {
        match self {
            Column::Tensor(c) => c.row(i).map(Value::Tensor),
            Column::Jagged(v) => v.get(i).cloned().map(Value::Tensor),
            Column::NonTensor(v) => v.get(i).cloned().map(Value::NonTensor),
        }
    }

    /// Splits the column into its rows' values, moving non-tensor values
    /// out and slicing tensor bytes without copying them.
    pub(crate) fn into_values(self) -> Vec<Value> {
        match self {
            Column::Tensor(c) => c.rows().map(Value::Tensor).collect(),
            Column::Jagged(v) => v.into_iter().map(Value::Tensor).collect(),
            Column::NonTensor(v) => v.into_iter().map(Value::NonTensor).collect(),
        }
    }
}

/// N rows by named columns.
///
/// ```
/// # use tq_core::{Batch, Tensor, NonTensor};
/// let batch = Batch::new(2)
///     .with_dense("input_ids", Tensor::from_vec(vec![1i64, 2, 3, 4, 5, 6], [2, 3])?)?
///     .with_jagged("response", vec![
///         Tensor::from_vec(vec![7i64], [1])?,
///         Tensor::from_vec(vec![8i64, 9], [2])?,
///     ])?
///     .with_non_tensor("prompt", vec!["hi".into(), "hello".into()])?;
/// assert_eq!(batch.num_rows(), 2);
/// assert_eq!(batch.field_names().collect::<Vec<_>>(), ["input_ids", "response", "prompt"]);
/// # Ok::<(), tq_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    num_rows: usize,
    columns: IndexMap<String, Column>,
}

impl Batch {
    /// An empty batch of `num_rows` rows and no columns.
    pub fn new(num_rows: usize) -> Self {
        Batch {
            num_rows,
            columns: IndexMap::new(),
        }
    }

    /// Adds a column. Fails, naming the field, when the column's row count is
    /// not `num_rows`, a jagged column mixes dtypes, or the field already exists.
    pub fn insert(&mut self, field: impl Into<String>, column: Column) -> Result<()> {
        let field = field.into();
        let fail =
            |msg: String| Err(Error::invalid_argument(msg).with_context("field", field.clone()));
        if self.columns.contains_key(&field) {
            return fail(format!("field {field:?} is already in the batch"));
        }
        if column.len() != self.num_rows {
            return fail(format!(
                "column {field:?} has {} rows, the batch has {}",
                column.len(),
                self.num_rows
            ));
        }
        if let Column::Jagged(rows) = &column
            && let Err(e) = common_dtype(rows.iter())
        {
            return fail(format!("jagged column {field:?}: {}", e.message()));
        }
        self.columns.insert(field, column);
        Ok(())
    }

    /// Builder form of [`Batch::insert`].
    pub fn with(mut self, field: impl Into<String>, column: Column) -> Result<Self> {
        self.insert(field, column)?;
        Ok(self)
    }

    /// Adds a dense tensor column (leading dimension = rows), without copying.
    pub fn with_dense(self, field: impl Into<String>, tensor: Tensor) -> Result<Self> {
        let field = field.into();
        let column = Column::dense(tensor).map_err(|e| e.with_context("field", field.clone()))?;
        self.with(field, column)
    }

    /// Adds a jagged tensor column: one tensor per row, one dtype, any shapes.
    pub fn with_jagged(self, field: impl Into<String>, rows: Vec<Tensor>) -> Result<Self> {
        self.with(field, Column::Jagged(rows))
    }

    /// Adds a non-tensor column.
    pub fn with_non_tensor(self, field: impl Into<String>, values: Vec<NonTensor>) -> Result<Self> {
        self.with(field, Column::NonTensor(values))
    }

    /// The number of rows.
    pub fn num_rows(&self) -> usize {
        self.num_rows
    }

    /// The number of columns.
    pub fn num_columns(&self) -> usize {
        self.columns.len()
    }

    /// The field names, in column order.
    pub fn field_names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.columns.keys().map(String::as_str)
    }

    /// The column of `field`.
    pub fn column(&self, field: &str) -> Option<&Column> {
        self.columns.get(field)
    }

    /// The tensor column of `field`, if it is one.
    pub fn tensor(&self, field: &str) -> Option<&TensorColumn> {
        self.column(field).and_then(Column::as_tensor)
    }

    /// The non-tensor column of `field`, if it is one.
    pub fn non_tensor(&self, field: &str) -> Option<&[NonTensor]> {
        self.column(field).and_then(Column::as_non_tensor)
    }

    /// The columns in order.
    pub fn columns(&self) -> impl ExactSizeIterator<Item = (&str, &Column)> {
        self.columns.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The columns, consuming the batch.
    pub fn into_columns(self) -> impl ExactSizeIterator<Item = (String, Column)> {
        self.columns.into_iter()
    }

    /// Adds a column that the caller built with exactly `num_rows` rows.
    pub(crate) fn push_trusted(&mut self, field: String, column: Column) {
        debug_assert_eq!(column.len(), self.num_rows);
        self.columns.insert(field, column);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::dtype::DType;

    #[test]
    fn insert_rejects_wrong_row_count_naming_the_field() {
        let err = Batch::new(3)
            .with_non_tensor("prompt", vec!["a".into()])
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert_eq!(err.context_value("field"), Some("prompt"));
    }

    #[test]
    fn insert_rejects_mixed_dtype_jagged_and_duplicates() {
        let mixed = vec![
            Tensor::zeros(DType::F32, [2]).unwrap(),
            Tensor::zeros(DType::F16, [2]).unwrap(),
        ];
        let err = Batch::new(2).with_jagged("x", mixed).unwrap_err();
        assert_eq!(err.context_value("field"), Some("x"));
        let b = Batch::new(1)
            .with_non_tensor("x", vec!["a".into()])
            .unwrap();
        assert!(b.with_non_tensor("x", vec!["b".into()]).is_err());
    }

    #[test]
    fn dense_scalar_is_rejected() {
        let err = Batch::new(1)
            .with_dense("x", Tensor::zeros(DType::F32, Vec::<usize>::new()).unwrap())
            .unwrap_err();
        assert_eq!(err.context_value("field"), Some("x"));
    }
}
