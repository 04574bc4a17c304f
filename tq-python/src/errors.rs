//! tq-rs errors as Python exceptions: one class per `ErrorKind`, all under
//! `tq_rs.TqError`, defined in Python (`tq_rs/errors.py`) so that they can
//! also derive from the built-in exception a TransferQueue user already
//! catches (`ValueError`, `TimeoutError`, `ConnectionError`).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};
use tq_facade::{Error, ErrorKind};

static ERRORS_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The Python class name of `kind`.
fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidArgument => "InvalidArgument",
        ErrorKind::NotFound => "NotFound",
        ErrorKind::InvalidData => "InvalidData",
        ErrorKind::CapacityExceeded => "CapacityExceeded",
        ErrorKind::Unsupported => "Unsupported",
        ErrorKind::Config => "ConfigError",
        ErrorKind::Unavailable => "Unavailable",
        ErrorKind::Corrupted => "Corrupted",
        ErrorKind::Conflict => "Conflict",
        ErrorKind::Timeout => "Timeout",
        // ErrorKind is non-exhaustive: a kind added later is still a TqError.
        _ => "Unexpected",
    }
}

/// The value of context `one`, else of its plural `many` (a call about
/// several keys names them all).
fn context_of(err: &Error, one: &str, many: &str) -> Option<String> {
    err.context_value(one)
        .or_else(|| err.context_value(many))
        .map(str::to_owned)
}

fn build(py: Python<'_>, err: &Error) -> PyResult<PyErr> {
    let module = ERRORS_MODULE.get_or_try_init(py, || {
        PyModule::import(py, "tq_rs.errors").map(Bound::unbind)
    })?;
    let class = module.bind(py).getattr(class_name(err.kind()))?;
    let context = PyDict::new(py);
    for (k, v) in err.context() {
        // The first value of a name wins, as in Error::context_value.
        if !context.contains(*k)? {
            context.set_item(*k, v)?;
        }
    }
    let kwargs = PyDict::new(py);
    kwargs.set_item("key", context_of(err, "key", "keys"))?;
    kwargs.set_item("field", context_of(err, "field", "fields"))?;
    kwargs.set_item("partition", err.context_value("partition"))?;
    kwargs.set_item("context", context)?;
    kwargs.set_item("temporary", err.is_temporary())?;
    kwargs.set_item("operation", err.operation())?;
    let value = class.call((err.to_string(),), Some(&kwargs))?;
    Ok(PyErr::from_value(value))
}

/// The Python exception of a tq-rs error.
pub(crate) fn to_py_err(err: Error) -> PyErr {
    Python::attach(|py| match build(py, &err) {
        Ok(e) => e,
        // Only when tq_rs.errors cannot be imported (a broken install).
        Err(import) => {
            PyRuntimeError::new_err(format!("{err} (and tq_rs.errors failed: {import})"))
        }
    })
}

/// An `InvalidArgument` error about the call `op` in `partition`.
pub(crate) fn invalid(op: &'static str, partition: &str, message: impl Into<String>) -> Error {
    Error::invalid_argument(message)
        .with_operation(op)
        .with_context("partition", partition)
}
