//! A Python merge function for `kv_update` / `kv_batch_update`.
//!
//! The engine's merge function cannot fail (it returns `Option<RowChange>`),
//! so a Python exception, or a return value that is not a change, is kept
//! here: from then on every row is left unchanged, and the call raises the
//! first such exception once the engine returns.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use tq_facade::{CurrentRow, RowChange};

use crate::convert::input::{Site, row_of, tag_of, type_name};
use crate::convert::json::map_to_py;
use crate::convert::output::{TensorOut, value_to_py};
use crate::errors::to_py_err;

/// A Python callable used as a merge function.
#[derive(Clone)]
pub(crate) struct PyMerge {
    func: Arc<Py<PyAny>>,
    partition: Arc<str>,
    op: &'static str,
    failure: Arc<Mutex<Option<PyErr>>>,
}

impl PyMerge {
    pub(crate) fn new(func: Py<PyAny>, partition: &str, op: &'static str) -> Self {
        PyMerge {
            func: Arc::new(func),
            partition: partition.into(),
            op,
            failure: Arc::new(Mutex::new(None)),
        }
    }

    /// The first exception the function raised (or caused), if any.
    pub(crate) fn take_failure(&self) -> Option<PyErr> {
        self.failure.lock().ok().and_then(|mut f| f.take())
    }

    fn failed(&self) -> bool {
        self.failure.lock().map(|f| f.is_some()).unwrap_or(true)
    }

    fn fail(&self, err: PyErr) {
        if let Ok(mut slot) = self.failure.lock()
            && slot.is_none()
        {
            *slot = Some(err);
        }
    }

    /// What the engine calls: the row in, the change out.
    pub(crate) fn call(&self, row: &CurrentRow) -> Option<RowChange> {
        if self.failed() {
            return None;
        }
        match Python::attach(|py| self.call_py(py, row)) {
            Ok(change) => change,
            Err(err) => {
                self.fail(err);
                None
            }
        }
    }

    fn site(&self) -> Site<'_> {
        Site {
            op: self.op,
            partition: &self.partition,
        }
    }

    fn call_py(&self, py: Python<'_>, row: &CurrentRow) -> PyResult<Option<RowChange>> {
        let fields = PyDict::new(py);
        for (name, value) in row.cells.iter() {
            fields.set_item(name, value_to_py(py, value, name, TensorOut::Numpy)?)?;
        }
        let arg = PyDict::new(py);
        arg.set_item("key", PyString::new(py, &row.key))?;
        arg.set_item("exists", row.exists)?;
        arg.set_item("fields", fields)?;
        arg.set_item("tag", map_to_py(py, &row.tag)?)?;
        let answer = self.func.bind(py).call1((arg,))?;
        if answer.is_none() {
            return Ok(None);
        }
        let bad = |m: String| {
            to_py_err(
                self.site()
                    .error(format!("merge_fn: {m}"))
                    .with_context("key", row.key.clone()),
            )
        };
        let Ok(answer) = answer.cast::<PyDict>() else {
            return Err(bad(format!(
                "must return None or a dict with \"fields\" and/or \"tag\", got {}",
                type_name(&answer)
            )));
        };
        let mut change = RowChange::new();
        for (k, v) in answer.iter() {
            match k.extract::<String>().as_deref() {
                Ok("fields") if !v.is_none() => {
                    for (name, value) in row_of(self.site(), &row.key, &v)
                        .map_err(to_py_err)?
                        .into_iter()
                    {
                        change = change.with(name, value);
                    }
                }
                Ok("tag") if !v.is_none() => {
                    change = change
                        .with_tag(tag_of(self.site(), Some(&row.key), &v).map_err(to_py_err)?);
                }
                Ok("fields" | "tag") => {}
                _ => {
                    return Err(bad(format!(
                        "returned an entry {k} besides \"fields\" and \"tag\""
                    )));
                }
            }
        }
        Ok(Some(change))
    }
}

/// The call's outcome: the merge function's failure first (its rows were
/// left unchanged), else the engine's.
pub(crate) fn outcome<T>(merge: &PyMerge, result: tq_facade::Result<T>) -> Result<T, PyErr> {
    if let Some(err) = merge.take_failure() {
        return Err(err);
    }
    result.map_err(to_py_err)
}
