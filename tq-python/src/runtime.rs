//! The one Tokio runtime every call runs on, blocking or async.

use std::future::Future;
use std::time::Duration;

use pyo3::prelude::*;
use tq_facade::{Error, ErrorKind};

use crate::errors::to_py_err;

/// The process-wide runtime, shared with `pyo3_async_runtimes` so that the
/// async API's futures and the blocking calls run on the same workers (and a
/// backend's connections live on one runtime).
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// Runs `fut` to completion with the GIL released, so other Python threads
/// run meanwhile. Called on a runtime thread (a merge function calling back
/// into tq_rs, say), blocking would stall a worker, and Tokio would panic:
/// that is an `Unsupported` error instead.
pub(crate) fn block_on<T, F>(py: Python<'_>, op: &'static str, fut: F) -> PyResult<T>
where
    F: Future<Output = tq_facade::Result<T>> + Send,
    T: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(to_py_err(
            Error::new(
                ErrorKind::Unsupported,
                "a blocking tq_rs call was made on a thread of tq_rs's own runtime (from a \
                 kv_update merge function, say); use the value the function is given, or the \
                 async_ API from asyncio code",
            )
            .with_operation(op),
        ));
    }
    py.detach(|| runtime().block_on(fut)).map_err(to_py_err)
}

/// How often a blocking wait checks for Ctrl-C (and other signals).
pub(crate) const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// [`block_on`] for calls that only wait (kv_wait): every
/// [`SIGNAL_CHECK`] the GIL is taken back to run Python's signal handlers,
/// so Ctrl-C raises `KeyboardInterrupt` and drops the wait. Only for
/// futures that write nothing: a dropped put could have written part of
/// its rows.
pub(crate) fn block_on_interruptible<T, F>(py: Python<'_>, op: &'static str, fut: F) -> PyResult<T>
where
    F: Future<Output = tq_facade::Result<T>> + Send,
    T: Send,
{
    let mut fut = std::pin::pin!(fut);
    loop {
        let step = block_on(py, op, async {
            Ok(tokio::time::timeout(SIGNAL_CHECK, fut.as_mut()).await)
        })?;
        match step {
            Ok(done) => return done.map_err(to_py_err),
            Err(_elapsed) => py.check_signals()?,
        }
    }
}
