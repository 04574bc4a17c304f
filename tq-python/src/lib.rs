//! # tq-python
//!
//! The native part of the Python package `tq_rs` (`tq_rs._native`): the
//! kv_* API of tq-facade for Python, with numpy arrays and torch tensors
//! passed in and out without copying, the GIL released during every backend
//! call, and asyncio awaitables on one shared Tokio runtime. The Python
//! layer (`python/tq_rs`) adds the module-level functions, TensorDict
//! support and the exception classes.
#![deny(missing_docs)]

mod bench;
mod call;
mod checkpoint;
mod config;
mod convert;
mod dlpack;
mod errors;
mod formats;
mod meta;
mod queue;
mod runtime;
mod update;
mod view;
mod watch;

use pyo3::prelude::*;

/// The extension module `tq_rs._native`.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<queue::Queue>()?;
    m.add_class::<meta::PyMeta>()?;
    m.add_class::<view::Buffer>()?;
    m.add_class::<watch::Watch>()?;
    m.add_function(wrap_pyfunction!(bench::rust_baseline, m)?)?;
    Ok(())
}
