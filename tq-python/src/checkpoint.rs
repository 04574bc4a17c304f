//! `save_checkpoint` and `load_checkpoint`: the facade's checkpoints of a
//! store on object storage (`file://`, `memory://`, and `s3://`, `gs://`,
//! `az://` when the extension is built with those features), blocking or
//! awaitable. Both answer the checkpoint's manifest as a dict.

use pyo3::prelude::*;
use tq_facade::{LoadOptions, Manifest, SaveOptions, TransferQueue};

use crate::call::run;
use crate::convert::json::to_py;

/// The manifest as the dict its JSON reads as (docs/CHECKPOINT_FORMAT.md).
fn manifest_to_py(py: Python<'_>, manifest: Manifest) -> PyResult<Py<PyAny>> {
    let json: tq_facade::serde_json::Value = tq_facade::serde_json::from_slice(&manifest.to_json())
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("manifest JSON: {e}")))?;
    Ok(to_py(py, &json)?.unbind())
}

/// Saves a checkpoint at `url` as `options` say.
pub(crate) fn save(
    py: Python<'_>,
    is_async: bool,
    tq: TransferQueue,
    url: String,
    options: SaveOptions,
) -> PyResult<Py<PyAny>> {
    let fut = async move { tq.save_checkpoint_with(&url, &options).await };
    run(py, "save_checkpoint", is_async, fut, manifest_to_py)
}

/// Loads the checkpoint at `url` as `options` say.
pub(crate) fn load(
    py: Python<'_>,
    is_async: bool,
    tq: TransferQueue,
    url: String,
    options: LoadOptions,
) -> PyResult<Py<PyAny>> {
    let fut = async move { tq.load_checkpoint_with(&url, &options).await };
    run(py, "load_checkpoint", is_async, fut, manifest_to_py)
}
