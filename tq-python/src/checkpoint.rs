//! `save_checkpoint` and `load_checkpoint`: the facade's checkpoints of a
//! store on object storage (`file://`, `memory://`, and `s3://`, `gs://`,
//! `az://` when the extension is built with those features), blocking or
//! awaitable. Both answer the checkpoint's manifest as a dict.

use pyo3::prelude::*;
use tq_facade::{LoadOptions, Manifest, SaveOptions, TransferQueue};

use crate::call::run;
use crate::convert::json::to_py;

/// What a save is asked to do, from the Python call's arguments.
pub(crate) struct SaveArgs {
    pub(crate) url: String,
    pub(crate) partitions: Option<Vec<String>>,
    pub(crate) overwrite: bool,
    pub(crate) allow_fuzzy: bool,
}

/// What a load is asked to do, from the Python call's arguments.
pub(crate) struct LoadArgs {
    pub(crate) url: String,
    pub(crate) partitions: Option<Vec<String>>,
    pub(crate) replace: bool,
}

/// The manifest as the dict its JSON reads as (docs/CHECKPOINT_FORMAT.md).
fn manifest_to_py(py: Python<'_>, manifest: Manifest) -> PyResult<Py<PyAny>> {
    let json: tq_facade::serde_json::Value = tq_facade::serde_json::from_slice(&manifest.to_json())
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("manifest JSON: {e}")))?;
    Ok(to_py(py, &json)?.unbind())
}

/// Saves the partitions `args` names (all when None) to `args.url`.
pub(crate) fn save(
    py: Python<'_>,
    is_async: bool,
    tq: TransferQueue,
    args: SaveArgs,
) -> PyResult<Py<PyAny>> {
    let mut options = SaveOptions::default()
        .with_overwrite(args.overwrite)
        .with_allow_fuzzy(args.allow_fuzzy);
    if let Some(partitions) = &args.partitions {
        options = options.with_partitions(partitions);
    }
    let fut = async move { tq.save_checkpoint_with(&args.url, &options).await };
    run(py, "save_checkpoint", is_async, fut, manifest_to_py)
}

/// Loads the partitions `args` names (all when None) from `args.url`.
pub(crate) fn load(
    py: Python<'_>,
    is_async: bool,
    tq: TransferQueue,
    args: LoadArgs,
) -> PyResult<Py<PyAny>> {
    let mut options = LoadOptions::default().with_replace(args.replace);
    if let Some(partitions) = &args.partitions {
        options = options.with_partitions(partitions);
    }
    let fut = async move { tq.load_checkpoint_with(&args.url, &options).await };
    run(py, "load_checkpoint", is_async, fut, manifest_to_py)
}
