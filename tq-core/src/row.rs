//! One row's fields, the input of `kv_put`.

use indexmap::IndexMap;

use crate::value::Value;

/// Field name -> value for one row, with no batch dimension (contract P8).
///
/// ```
/// # use tq_core::{Row, Tensor};
/// let row = Row::new()
///     .with("input_ids", Tensor::from_vec(vec![1i64, 2, 3], [3])?)
///     .with("prompt", "What is 2+2?");
/// assert_eq!(row.len(), 2);
/// # Ok::<(), tq_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    cells: IndexMap<String, Value>,
}

impl Row {
    /// An empty row.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `field` to `value`, replacing an earlier value of that field.
    pub fn insert(&mut self, field: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        self.cells.insert(field.into(), value.into());
        self
    }

    /// Builder form of [`Row::insert`].
    pub fn with(mut self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.insert(field, value);
        self
    }

    /// The value of `field`.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.cells.get(field)
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether the row has no fields.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The fields in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.cells.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl IntoIterator for Row {
    type Item = (String, Value);
    type IntoIter = indexmap::map::IntoIter<String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.cells.into_iter()
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Row {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Row {
            cells: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}
