//! `TransferQueue`: the kv_* API over one opened backend, each operation
//! blocking (GIL released) and as an `async_` awaitable.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tq_facade::{FieldNames, KvBatchMeta, LoadOptions, SaveOptions, TransferQueue};

use crate::call::run;
use crate::checkpoint;
use crate::config::config_of;
use crate::convert::input::{Site, batch_of, names_of, opt_names_of, row_of, tag_of, tags_of};
use crate::convert::json::map_to_py;
use crate::convert::output::{TensorOut, batch_to_py};
use crate::errors::to_py_err;
use crate::meta::PyMeta;
use crate::runtime::{block_on, block_on_interruptible};
use crate::update::{PyMerge, outcome};
use crate::watch::{Watch, duration_of};

/// The kv_* API over the backend a config selects.
#[pyclass(module = "tq_rs._native", name = "TransferQueue", frozen)]
pub(crate) struct Queue {
    tq: TransferQueue,
}

fn meta_to_py(py: Python<'_>, meta: KvBatchMeta) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyMeta { inner: meta })?.into_any())
}

fn fields_ref(fields: &Option<Vec<String>>) -> Option<&dyn FieldNames> {
    fields.as_ref().map(|f| f as &dyn FieldNames)
}

fn output_of(op: &'static str, output: &str) -> PyResult<TensorOut> {
    TensorOut::parse(output).map_err(|e| to_py_err(e.with_operation(op)))
}

/// Arguments that may be passed as None.
fn given<'a, 'py>(obj: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
    obj.filter(|o| !o.is_none())
}

/// The partitions a checkpoint call names: a name, a list of names, or None
/// (all).
fn checkpoint_partitions(
    op: &'static str,
    partition_ids: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<Vec<String>>> {
    let Some(obj) = given(partition_ids) else {
        return Ok(None);
    };
    if let Ok(name) = obj.extract::<String>() {
        return Ok(Some(vec![name]));
    }
    obj.extract::<Vec<String>>().map(Some).map_err(|_| {
        to_py_err(
            tq_facade::Error::invalid_argument(format!(
                "partition_ids must be a partition name or a list of names, got {}",
                obj.get_type()
            ))
            .with_operation(op)
            .with_context("field", "partition_ids"),
        )
    })
}

/// A save's options from the Python call's arguments.
fn save_options(
    partition_ids: Option<&Bound<'_, PyAny>>,
    overwrite: bool,
    allow_fuzzy: bool,
) -> PyResult<SaveOptions> {
    let options = SaveOptions::default()
        .with_overwrite(overwrite)
        .with_allow_fuzzy(allow_fuzzy);
    Ok(
        match checkpoint_partitions("save_checkpoint", partition_ids)? {
            Some(names) => options.with_partitions(&names),
            None => options,
        },
    )
}

/// A load's options from the Python call's arguments.
fn load_options(partition_ids: Option<&Bound<'_, PyAny>>, replace: bool) -> PyResult<LoadOptions> {
    let options = LoadOptions::default().with_replace(replace);
    Ok(
        match checkpoint_partitions("load_checkpoint", partition_ids)? {
            Some(names) => options.with_partitions(&names),
            None => options,
        },
    )
}

impl Queue {
    fn put(
        &self,
        py: Python<'_>,
        is_async: bool,
        key: String,
        partition_id: String,
        fields: Option<&Bound<'_, PyAny>>,
        tag: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        const OP: &str = "kv_put";
        let site = Site {
            op: OP,
            partition: &partition_id,
        };
        let row = given(fields)
            .map(|f| row_of(site, &key, f))
            .transpose()
            .map_err(to_py_err)?;
        let tag = given(tag)
            .map(|t| tag_of(site, Some(&key), t))
            .transpose()
            .map_err(to_py_err)?;
        let tq = self.tq.clone();
        let fut = async move { tq.kv_put(&key, &partition_id, row, tag).await };
        run(py, OP, is_async, fut, meta_to_py)
    }

    fn batch_put(
        &self,
        py: Python<'_>,
        is_async: bool,
        keys: &Bound<'_, PyAny>,
        partition_id: String,
        fields: Option<&Bound<'_, PyAny>>,
        tags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        const OP: &str = "kv_batch_put";
        let site = Site {
            op: OP,
            partition: &partition_id,
        };
        let keys = names_of(site, "keys", keys).map_err(to_py_err)?;
        let batch = given(fields)
            .map(|f| batch_of(site, f, keys.len()))
            .transpose()
            .map_err(to_py_err)?;
        let tags = given(tags)
            .map(|t| tags_of(site, &keys, t))
            .transpose()
            .map_err(to_py_err)?;
        let tq = self.tq.clone();
        let fut = async move { tq.kv_batch_put(&keys[..], &partition_id, batch, tags).await };
        run(py, OP, is_async, fut, meta_to_py)
    }

    fn batch_get(
        &self,
        py: Python<'_>,
        is_async: bool,
        keys: &Bound<'_, PyAny>,
        partition_id: String,
        select_fields: Option<&Bound<'_, PyAny>>,
        output: &str,
    ) -> PyResult<Py<PyAny>> {
        const OP: &str = "kv_batch_get";
        let site = Site {
            op: OP,
            partition: &partition_id,
        };
        let out = output_of(OP, output)?;
        let keys = names_of(site, "keys", keys).map_err(to_py_err)?;
        let select = opt_names_of(site, "select_fields", select_fields).map_err(to_py_err)?;
        let tq = self.tq.clone();
        let fut = async move {
            tq.kv_batch_get(&keys[..], &partition_id, fields_ref(&select))
                .await
        };
        run(py, OP, is_async, fut, move |py, batch| {
            Ok(batch_to_py(py, &batch, out)?.into_any().unbind())
        })
    }

    fn batch_get_by_meta(
        &self,
        py: Python<'_>,
        is_async: bool,
        meta: &PyMeta,
        select_fields: Option<&Bound<'_, PyAny>>,
        output: &str,
    ) -> PyResult<Py<PyAny>> {
        const OP: &str = "kv_batch_get_by_meta";
        let meta = meta.inner.clone();
        let site = Site {
            op: OP,
            partition: &meta.partition_id,
        };
        let out = output_of(OP, output)?;
        let select = opt_names_of(site, "select_fields", select_fields).map_err(to_py_err)?;
        let tq = self.tq.clone();
        let fut = async move { tq.kv_batch_get_by_meta(&meta, fields_ref(&select)).await };
        run(py, OP, is_async, fut, move |py, batch| {
            Ok(batch_to_py(py, &batch, out)?.into_any().unbind())
        })
    }

    fn list(
        &self,
        py: Python<'_>,
        is_async: bool,
        partition_id: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let tq = self.tq.clone();
        let fut = async move { tq.kv_list(partition_id.as_deref()).await };
        run(py, "kv_list", is_async, fut, |py, listing| {
            let out = PyDict::new(py);
            for (partition, rows) in &listing {
                let keys = PyDict::new(py);
                for (key, tag) in rows {
                    keys.set_item(key, map_to_py(py, tag)?)?;
                }
                out.set_item(partition, keys)?;
            }
            Ok(out.into_any().unbind())
        })
    }

    fn clear(
        &self,
        py: Python<'_>,
        is_async: bool,
        keys: &Bound<'_, PyAny>,
        partition_id: String,
        fields: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        const OP: &str = "kv_clear";
        let site = Site {
            op: OP,
            partition: &partition_id,
        };
        let keys = names_of(site, "keys", keys).map_err(to_py_err)?;
        let fields = opt_names_of(site, "fields", fields).map_err(to_py_err)?;
        let tq = self.tq.clone();
        let fut = async move {
            tq.kv_clear(&keys[..], &partition_id, fields_ref(&fields))
                .await
        };
        run(py, OP, is_async, fut, |py, n| {
            Ok(n.into_pyobject(py)?.into_any().unbind())
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        py: Python<'_>,
        is_async: bool,
        op: &'static str,
        keys: Vec<String>,
        partition_id: String,
        fields: Option<&Bound<'_, PyAny>>,
        merge_fn: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let site = Site {
            op,
            partition: &partition_id,
        };
        let fields = opt_names_of(site, "fields", fields).map_err(to_py_err)?;
        let merge = PyMerge::new(merge_fn, &partition_id, op);
        let tq = self.tq.clone();
        let fut = async move {
            let call = merge.clone();
            let result = tq
                .kv_batch_update(&keys[..], &partition_id, fields_ref(&fields), move |row| {
                    call.call(row)
                })
                .await;
            Ok(outcome(&merge, result))
        };
        run(py, op, is_async, fut, |py, result| meta_to_py(py, result?))
    }

    fn wait(
        &self,
        py: Python<'_>,
        is_async: bool,
        keys: &Bound<'_, PyAny>,
        partition_id: String,
        fields: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        const OP: &str = "kv_wait";
        let site = Site {
            op: OP,
            partition: &partition_id,
        };
        let keys = names_of(site, "keys", keys).map_err(to_py_err)?;
        let fields = opt_names_of(site, "fields", fields).map_err(to_py_err)?;
        // None waits as long as a duration can (ten years).
        let timeout =
            duration_of(timeout.unwrap_or(f64::INFINITY)).map_err(|m| to_py_err(site.error(m)))?;
        let tq = self.tq.clone();
        let fut = async move {
            tq.kv_wait(&keys[..], &partition_id, fields_ref(&fields), timeout)
                .await
        };
        if is_async {
            return run(py, OP, true, fut, |py, ()| Ok(py.None()));
        }
        // A wait writes nothing, so Ctrl-C may drop it.
        block_on_interruptible(py, OP, fut)?;
        Ok(py.None())
    }

    fn watch(&self, py: Python<'_>, is_async: bool, partition_id: String) -> PyResult<Py<PyAny>> {
        let tq = self.tq.clone();
        let fut = async move { tq.kv_watch(&partition_id).await };
        run(py, "kv_watch", is_async, fut, |py, stream| {
            Ok(Py::new(py, Watch::new(stream))?.into_any())
        })
    }
}

#[pymethods]
impl Queue {
    /// Opens the backend `config` selects: None (the environment's
    /// `TQ_CONFIG`, else the in-memory backend), a TOML file path, or a dict.
    #[new]
    #[pyo3(signature = (config=None))]
    fn new(py: Python<'_>, config: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let config = config_of(config).map_err(|e| to_py_err(e.with_operation("init")))?;
        let tq = block_on(py, "init", TransferQueue::open(config))?;
        Ok(Queue { tq })
    }

    /// The backend's name (`"memory"`, `"rocksdb"`, `"redis"`).
    #[getter]
    fn backend(&self) -> String {
        self.tq.backend().name().to_owned()
    }

    /// Inserts or updates one row; see the package docs.
    #[pyo3(signature = (key, partition_id, fields=None, tag=None))]
    fn kv_put(
        &self,
        py: Python<'_>,
        key: String,
        partition_id: String,
        fields: Option<&Bound<'_, PyAny>>,
        tag: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.put(py, false, key, partition_id, fields, tag)
    }

    /// `kv_put` as an awaitable.
    #[pyo3(signature = (key, partition_id, fields=None, tag=None))]
    fn async_kv_put(
        &self,
        py: Python<'_>,
        key: String,
        partition_id: String,
        fields: Option<&Bound<'_, PyAny>>,
        tag: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.put(py, true, key, partition_id, fields, tag)
    }

    /// Inserts or updates many rows.
    #[pyo3(signature = (keys, partition_id, fields=None, tags=None))]
    fn kv_batch_put(
        &self,
        py: Python<'_>,
        keys: &Bound<'_, PyAny>,
        partition_id: String,
        fields: Option<&Bound<'_, PyAny>>,
        tags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.batch_put(py, false, keys, partition_id, fields, tags)
    }

    /// `kv_batch_put` as an awaitable.
    #[pyo3(signature = (keys, partition_id, fields=None, tags=None))]
    fn async_kv_batch_put(
        &self,
        py: Python<'_>,
        keys: &Bound<'_, PyAny>,
        partition_id: String,
        fields: Option<&Bound<'_, PyAny>>,
        tags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.batch_put(py, true, keys, partition_id, fields, tags)
    }

    /// Reads rows as a dict of columns.
    #[pyo3(signature = (keys, partition_id, select_fields=None, *, output="numpy"))]
    fn kv_batch_get(
        &self,
        py: Python<'_>,
        keys: &Bound<'_, PyAny>,
        partition_id: String,
        select_fields: Option<&Bound<'_, PyAny>>,
        output: &str,
    ) -> PyResult<Py<PyAny>> {
        self.batch_get(py, false, keys, partition_id, select_fields, output)
    }

    /// `kv_batch_get` as an awaitable.
    #[pyo3(signature = (keys, partition_id, select_fields=None, *, output="numpy"))]
    fn async_kv_batch_get(
        &self,
        py: Python<'_>,
        keys: &Bound<'_, PyAny>,
        partition_id: String,
        select_fields: Option<&Bound<'_, PyAny>>,
        output: &str,
    ) -> PyResult<Py<PyAny>> {
        self.batch_get(py, true, keys, partition_id, select_fields, output)
    }

    /// Reads the rows and fields a meta names.
    #[pyo3(signature = (meta, select_fields=None, *, output="numpy"))]
    fn kv_batch_get_by_meta(
        &self,
        py: Python<'_>,
        meta: PyRef<'_, PyMeta>,
        select_fields: Option<&Bound<'_, PyAny>>,
        output: &str,
    ) -> PyResult<Py<PyAny>> {
        self.batch_get_by_meta(py, false, &meta, select_fields, output)
    }

    /// `kv_batch_get_by_meta` as an awaitable.
    #[pyo3(signature = (meta, select_fields=None, *, output="numpy"))]
    fn async_kv_batch_get_by_meta(
        &self,
        py: Python<'_>,
        meta: PyRef<'_, PyMeta>,
        select_fields: Option<&Bound<'_, PyAny>>,
        output: &str,
    ) -> PyResult<Py<PyAny>> {
        self.batch_get_by_meta(py, true, &meta, select_fields, output)
    }

    /// Partitions -> keys -> tags.
    #[pyo3(signature = (partition_id=None))]
    fn kv_list(&self, py: Python<'_>, partition_id: Option<String>) -> PyResult<Py<PyAny>> {
        self.list(py, false, partition_id)
    }

    /// `kv_list` as an awaitable.
    #[pyo3(signature = (partition_id=None))]
    fn async_kv_list(&self, py: Python<'_>, partition_id: Option<String>) -> PyResult<Py<PyAny>> {
        self.list(py, true, partition_id)
    }

    /// Removes rows, or only `fields` of them; returns how many keys were rows.
    #[pyo3(signature = (keys, partition_id, fields=None))]
    fn kv_clear(
        &self,
        py: Python<'_>,
        keys: &Bound<'_, PyAny>,
        partition_id: String,
        fields: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.clear(py, false, keys, partition_id, fields)
    }

    /// `kv_clear` as an awaitable.
    #[pyo3(signature = (keys, partition_id, fields=None))]
    fn async_kv_clear(
        &self,
        py: Python<'_>,
        keys: &Bound<'_, PyAny>,
        partition_id: String,
        fields: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.clear(py, true, keys, partition_id, fields)
    }

    /// Atomically reads, merges (`merge_fn`) and writes one row.
    fn kv_update(
        &self,
        py: Python<'_>,
        key: String,
        partition_id: String,
        fields: Option<&Bound<'_, PyAny>>,
        merge_fn: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        self.update(
            py,
            false,
            "kv_update",
            vec![key],
            partition_id,
            fields,
            merge_fn,
        )
    }

    /// `kv_update` as an awaitable.
    fn async_kv_update(
        &self,
        py: Python<'_>,
        key: String,
        partition_id: String,
        fields: Option<&Bound<'_, PyAny>>,
        merge_fn: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        self.update(
            py,
            true,
            "kv_update",
            vec![key],
            partition_id,
            fields,
            merge_fn,
        )
    }

    /// Atomically reads, merges and writes each of `keys`.
    fn kv_batch_update(
        &self,
        py: Python<'_>,
        keys: &Bound<'_, PyAny>,
        partition_id: String,
        fields: Option<&Bound<'_, PyAny>>,
        merge_fn: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let site = Site {
            op: "kv_batch_update",
            partition: &partition_id,
        };
        let keys = names_of(site, "keys", keys).map_err(to_py_err)?;
        self.update(
            py,
            false,
            "kv_batch_update",
            keys,
            partition_id,
            fields,
            merge_fn,
        )
    }

    /// `kv_batch_update` as an awaitable.
    fn async_kv_batch_update(
        &self,
        py: Python<'_>,
        keys: &Bound<'_, PyAny>,
        partition_id: String,
        fields: Option<&Bound<'_, PyAny>>,
        merge_fn: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let site = Site {
            op: "kv_batch_update",
            partition: &partition_id,
        };
        let keys = names_of(site, "keys", keys).map_err(to_py_err)?;
        self.update(
            py,
            true,
            "kv_batch_update",
            keys,
            partition_id,
            fields,
            merge_fn,
        )
    }

    /// Waits until every key holds every field (or exists, without
    /// fields); raises `Timeout` naming what is missing.
    #[pyo3(signature = (keys, partition_id, fields=None, timeout=None))]
    fn kv_wait(
        &self,
        py: Python<'_>,
        keys: &Bound<'_, PyAny>,
        partition_id: String,
        fields: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        self.wait(py, false, keys, partition_id, fields, timeout)
    }

    /// `kv_wait` as an awaitable.
    #[pyo3(signature = (keys, partition_id, fields=None, timeout=None))]
    fn async_kv_wait(
        &self,
        py: Python<'_>,
        keys: &Bound<'_, PyAny>,
        partition_id: String,
        fields: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        self.wait(py, true, keys, partition_id, fields, timeout)
    }

    /// Saves the store's partitions (`partition_ids`, all when None) as a
    /// checkpoint at `url`; returns its manifest.
    #[pyo3(signature = (url, partition_ids=None, *, overwrite=false, allow_fuzzy=false))]
    fn save_checkpoint(
        &self,
        py: Python<'_>,
        url: String,
        partition_ids: Option<&Bound<'_, PyAny>>,
        overwrite: bool,
        allow_fuzzy: bool,
    ) -> PyResult<Py<PyAny>> {
        let options = save_options(partition_ids, overwrite, allow_fuzzy)?;
        checkpoint::save(py, false, self.tq.clone(), url, options)
    }

    /// `save_checkpoint` as an awaitable.
    #[pyo3(signature = (url, partition_ids=None, *, overwrite=false, allow_fuzzy=false))]
    fn async_save_checkpoint(
        &self,
        py: Python<'_>,
        url: String,
        partition_ids: Option<&Bound<'_, PyAny>>,
        overwrite: bool,
        allow_fuzzy: bool,
    ) -> PyResult<Py<PyAny>> {
        let options = save_options(partition_ids, overwrite, allow_fuzzy)?;
        checkpoint::save(py, true, self.tq.clone(), url, options)
    }

    /// Loads the checkpoint at `url` (its `partition_ids`, all when None),
    /// verified before anything is written; returns its manifest.
    #[pyo3(signature = (url, partition_ids=None, *, replace=false))]
    fn load_checkpoint(
        &self,
        py: Python<'_>,
        url: String,
        partition_ids: Option<&Bound<'_, PyAny>>,
        replace: bool,
    ) -> PyResult<Py<PyAny>> {
        let options = load_options(partition_ids, replace)?;
        checkpoint::load(py, false, self.tq.clone(), url, options)
    }

    /// `load_checkpoint` as an awaitable.
    #[pyo3(signature = (url, partition_ids=None, *, replace=false))]
    fn async_load_checkpoint(
        &self,
        py: Python<'_>,
        url: String,
        partition_ids: Option<&Bound<'_, PyAny>>,
        replace: bool,
    ) -> PyResult<Py<PyAny>> {
        let options = load_options(partition_ids, replace)?;
        checkpoint::load(py, true, self.tq.clone(), url, options)
    }

    /// The writes to `partition_id` from now on, as an iterator of dicts.
    fn kv_watch(&self, py: Python<'_>, partition_id: String) -> PyResult<Py<PyAny>> {
        self.watch(py, false, partition_id)
    }

    /// `kv_watch` as an awaitable (of an async iterator).
    fn async_kv_watch(&self, py: Python<'_>, partition_id: String) -> PyResult<Py<PyAny>> {
        self.watch(py, true, partition_id)
    }
}
