//! Running one kv_* call, blocking or as an asyncio awaitable: the same
//! future either way, on the shared runtime.

use std::future::Future;

use pyo3::prelude::*;

use crate::errors::to_py_err;
use crate::runtime::block_on;

/// Runs `fut`: blocking with the GIL released when `is_async` is false,
/// else as an asyncio future of the running loop. `finish` converts the
/// result.
pub(crate) fn run<T, F, C>(
    py: Python<'_>,
    op: &'static str,
    is_async: bool,
    fut: F,
    finish: C,
) -> PyResult<Py<PyAny>>
where
    F: Future<Output = tq_facade::Result<T>> + Send + 'static,
    T: Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    if is_async {
        let awaitable = pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let value = fut.await.map_err(to_py_err)?;
            Python::attach(|py| finish(py, value))
        })?;
        Ok(awaitable.unbind())
    } else {
        let value = block_on(py, op, fut)?;
        finish(py, value)
    }
}
