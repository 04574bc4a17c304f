//! Cell values: a tensor or a non-tensor value.

use crate::tensor::Tensor;
use bytes::Bytes;

/// A non-tensor cell: prompts, chat messages, uids, metric dicts.
#[derive(Debug, Clone, PartialEq)]
pub enum NonTensor {
    /// A UTF-8 string.
    Str(String),
    /// Raw bytes, kept as given.
    Bytes(Bytes),
    /// Any JSON value.
    Json(serde_json::Value),
}

impl NonTensor {
    /// The payload size in bytes (for capacity accounting; JSON is measured
    /// by its serialized length).
    pub fn nbytes(&self) -> usize {
        match self {
            NonTensor::Str(s) => s.len(),
            NonTensor::Bytes(b) => b.len(),
            NonTensor::Json(j) => serde_json::to_vec(j).map(|v| v.len()).unwrap_or(0),
        }
    }

    /// The string, if this is [`NonTensor::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            NonTensor::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The JSON value, if this is [`NonTensor::Json`].
    pub fn as_json(&self) -> Option<&serde_json::Value> {
        match self {
            NonTensor::Json(j) => Some(j),
            _ => None,
        }
    }

    /// The bytes, if this is [`NonTensor::Bytes`].
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            NonTensor::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

impl From<String> for NonTensor {
    fn from(s: String) -> Self {
        NonTensor::Str(s)
    }
}

impl From<&str> for NonTensor {
    fn from(s: &str) -> Self {
        NonTensor::Str(s.to_owned())
    }
}

impl From<Bytes> for NonTensor {
    fn from(b: Bytes) -> Self {
        NonTensor::Bytes(b)
    }
}

impl From<serde_json::Value> for NonTensor {
    fn from(j: serde_json::Value) -> Self {
        NonTensor::Json(j)
    }
}

/// What one row holds for one field.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A tensor.
    Tensor(Tensor),
    /// A non-tensor value.
    NonTensor(NonTensor),
}

impl Value {
    /// The payload size in bytes.
    pub fn nbytes(&self) -> usize {
        match self {
            Value::Tensor(t) => t.nbytes(),
            Value::NonTensor(n) => n.nbytes(),
        }
    }

    /// The tensor, if this is one.
    pub fn as_tensor(&self) -> Option<&Tensor> {
        match self {
            Value::Tensor(t) => Some(t),
            Value::NonTensor(_) => None,
        }
    }

    /// The non-tensor value, if this is one.
    pub fn as_non_tensor(&self) -> Option<&NonTensor> {
        match self {
            Value::NonTensor(n) => Some(n),
            Value::Tensor(_) => None,
        }
    }
}

impl From<Tensor> for Value {
    fn from(t: Tensor) -> Self {
        Value::Tensor(t)
    }
}

impl From<NonTensor> for Value {
    fn from(n: NonTensor) -> Self {
        Value::NonTensor(n)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::NonTensor(s.into())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::NonTensor(s.into())
    }
}

impl From<Bytes> for Value {
    fn from(b: Bytes) -> Self {
        Value::NonTensor(b.into())
    }
}

impl From<serde_json::Value> for Value {
    fn from(j: serde_json::Value) -> Self {
        Value::NonTensor(j.into())
    }
}
