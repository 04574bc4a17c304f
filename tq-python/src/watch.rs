//! `kv_watch`'s stream as a Python iterator (blocking) and async iterator.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tq_facade::{WatchEvent, WatchStream};

use crate::convert::json::map_to_py;
use crate::errors::to_py_err;
use crate::runtime::{SIGNAL_CHECK, block_on};

type Shared = Arc<tokio::sync::Mutex<WatchStream>>;

/// The writes applied to one partition from the `kv_watch` call on, as
/// dicts: `{"type": "put", "key", "fields", "tag"}`, `{"type": "clear",
/// "key", "fields"}` (`fields` None for a whole row), `{"type": "lagged",
/// "missed"}` where a slow reader lost events.
#[pyclass(module = "tq_rs._native", frozen)]
pub(crate) struct Watch {
    stream: Shared,
}

impl Watch {
    pub(crate) fn new(stream: WatchStream) -> Self {
        Watch {
            stream: Arc::new(tokio::sync::Mutex::new(stream)),
        }
    }
}

/// The next event within `limit`: `Ok(None)` when the time passed,
/// `Ok(Some(None))` when the stream ended.
async fn next_within(
    stream: Shared,
    limit: Option<Duration>,
) -> tq_facade::Result<Option<Option<WatchEvent>>> {
    let mut guard = stream.lock().await;
    let item = match limit {
        Some(limit) => match tokio::time::timeout(limit, guard.next()).await {
            Ok(item) => item,
            Err(_) => return Ok(None),
        },
        None => guard.next().await,
    };
    item.transpose().map(Some)
}

fn event_to_py(py: Python<'_>, event: &WatchEvent) -> PyResult<Py<PyAny>> {
    let d = PyDict::new(py);
    match event {
        WatchEvent::Put { key, fields, tag } => {
            d.set_item("type", "put")?;
            d.set_item("key", key)?;
            d.set_item("fields", fields.clone())?;
            d.set_item("tag", map_to_py(py, tag)?)?;
        }
        WatchEvent::Clear { key, fields } => {
            d.set_item("type", "clear")?;
            d.set_item("key", key)?;
            d.set_item("fields", fields.clone())?;
        }
        WatchEvent::Lagged { missed } => {
            d.set_item("type", "lagged")?;
            d.set_item("missed", *missed)?;
        }
        // WatchEvent is non-exhaustive: show a later kind rather than drop it.
        other => {
            d.set_item("type", "other")?;
            d.set_item("repr", format!("{other:?}"))?;
        }
    }
    Ok(d.into_any().unbind())
}

/// A timeout in seconds as a duration: finite and not negative. Past ten
/// years it is ten years (an instant that far ahead may not exist).
pub(crate) fn duration_of(seconds: f64) -> Result<Duration, String> {
    const MAX: f64 = 10.0 * 365.0 * 86400.0;
    if seconds.is_nan() || seconds < 0.0 {
        return Err(format!(
            "timeout must be a number of seconds >= 0, got {seconds}"
        ));
    }
    Ok(Duration::from_secs_f64(seconds.min(MAX)))
}

#[pymethods]
impl Watch {
    /// The next event, waiting at most `timeout` seconds (None: until one
    /// comes); None when the time passed. Raises `Unavailable` when the
    /// stream ended (the backend's connection was lost: watch again and
    /// resync with `kv_list`).
    #[pyo3(signature = (timeout=None))]
    fn get(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Py<PyAny>>> {
        let limit = timeout
            .map(duration_of)
            .transpose()
            .map_err(|m| to_py_err(tq_facade::Error::invalid_argument(m)))?;
        match block_on(py, "kv_watch", next_within(self.stream.clone(), limit))? {
            None => Ok(None),
            Some(Some(event)) => event_to_py(py, &event).map(Some),
            Some(None) => Err(to_py_err(ended())),
        }
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Waits for the next event (Ctrl-C interrupts the wait).
    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        loop {
            match block_on(
                py,
                "kv_watch",
                next_within(self.stream.clone(), Some(SIGNAL_CHECK)),
            )? {
                Some(Some(event)) => return event_to_py(py, &event),
                Some(None) => return Err(PyStopIteration::new_err(())),
                None => py.check_signals()?,
            }
        }
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Awaits the next event.
    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            match next_within(stream, None).await.map_err(to_py_err)? {
                Some(Some(event)) => Python::attach(|py| event_to_py(py, &event)),
                _ => Err(PyStopAsyncIteration::new_err(())),
            }
        })
    }
}

fn ended() -> tq_facade::Error {
    tq_facade::Error::new(
        tq_facade::ErrorKind::Unavailable,
        "the watch stream ended (its connection was lost); watch again and resync with kv_list",
    )
    .with_operation("kv_watch")
}
