//! `KVBatchMeta`: what puts return and `kv_batch_get_by_meta` reads, with
//! the Python TransferQueue's field names and helpers.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use tq_facade::KvBatchMeta;

use crate::convert::input::{Site, names_of, tag_of, type_name};
use crate::convert::json::{dict_to_map, map_to_py};
use crate::errors::to_py_err;

/// Keys, their tags, the partition, the fields every key holds, and free
/// `extra_info`. Built by every put; hand it to `kv_batch_get_by_meta`.
#[pyclass(module = "tq_rs._native", name = "KVBatchMeta", eq, from_py_object)]
#[derive(Clone, PartialEq)]
pub(crate) struct PyMeta {
    pub(crate) inner: KvBatchMeta,
}

const SITE: Site<'static> = Site {
    op: "KVBatchMeta",
    partition: "",
};

#[pymethods]
impl PyMeta {
    #[new]
    #[pyo3(signature = (keys=None, tags=None, partition_id=None, fields=None, extra_info=None))]
    fn new(
        keys: Option<&Bound<'_, PyAny>>,
        tags: Option<&Bound<'_, PyAny>>,
        partition_id: Option<String>,
        fields: Option<&Bound<'_, PyAny>>,
        extra_info: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let keys = match keys {
            Some(k) => names_of(SITE, "keys", k).map_err(to_py_err)?,
            None => Vec::new(),
        };
        let tags = match tags {
            Some(t) if !t.is_none() => {
                let items: Vec<Bound<'_, PyAny>> = t
                    .cast::<PyList>()
                    .map(|l| l.iter().collect())
                    .or_else(|_| t.cast::<PyTuple>().map(|l| l.iter().collect()))
                    .map_err(|_| {
                        to_py_err(SITE.error(format!(
                            "tags must be a list of dicts, got {}",
                            type_name(t)
                        )))
                    })?;
                items
                    .iter()
                    .map(|t| tag_of(SITE, None, t))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(to_py_err)?
            }
            _ => vec![Default::default(); keys.len()],
        };
        if tags.len() != keys.len() {
            return Err(to_py_err(SITE.error(format!(
                "keys and tags must have the same length, got {} and {}",
                keys.len(),
                tags.len()
            ))));
        }
        let fields = match fields {
            Some(f) if !f.is_none() => names_of(SITE, "fields", f).map_err(to_py_err)?,
            _ => Vec::new(),
        };
        let extra_info = match extra_info {
            Some(d) => {
                dict_to_map(d).map_err(|m| to_py_err(SITE.error(format!("extra_info: {m}"))))?
            }
            None => Default::default(),
        };
        Ok(PyMeta {
            inner: KvBatchMeta {
                keys,
                tags,
                partition_id: partition_id.unwrap_or_default(),
                fields,
                extra_info,
            },
        })
    }

    /// The keys, in call order.
    #[getter]
    fn keys(&self) -> Vec<String> {
        self.inner.keys.clone()
    }

    /// Each key's whole tag after the put.
    #[getter]
    fn tags<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for t in &self.inner.tags {
            list.append(map_to_py(py, t)?)?;
        }
        Ok(list)
    }

    /// The partition.
    #[getter]
    fn partition_id(&self) -> String {
        self.inner.partition_id.clone()
    }

    /// The fields every key holds, sorted by name.
    #[getter]
    fn fields(&self) -> Vec<String> {
        self.inner.fields.clone()
    }

    /// Free-form information; tq-rs never reads it.
    #[getter]
    fn extra_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        map_to_py(py, &self.inner.extra_info)
    }

    /// The number of keys.
    #[getter]
    fn size(&self) -> usize {
        self.inner.len()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "KVBatchMeta(size={}, partition_id={:?}, fields={:?})",
            self.inner.len(),
            self.inner.partition_id,
            self.inner.fields
        )
    }

    /// A meta of `keys_to_select` only, in that order.
    fn select_keys(&self, py: Python<'_>, keys_to_select: &Bound<'_, PyAny>) -> PyResult<Self> {
        let keys = names_of(SITE, "keys_to_select", keys_to_select).map_err(to_py_err)?;
        let _ = py;
        self.inner
            .select_keys(&keys)
            .map(|inner| PyMeta { inner })
            .map_err(to_py_err)
    }

    /// Reorders keys and tags in place: key i becomes old key `indexes[i]`.
    fn reorder(&mut self, indexes: Vec<usize>) -> PyResult<()> {
        self.inner.reorder(&indexes).map_err(to_py_err)
    }

    /// Splits into `chunks` metas of near-equal size.
    fn chunk(&self, chunks: usize) -> PyResult<Vec<Self>> {
        self.inner
            .chunk(chunks)
            .map(|v| v.into_iter().map(|inner| PyMeta { inner }).collect())
            .map_err(to_py_err)
    }

    /// Joins metas of one partition.
    #[staticmethod]
    fn concat(metas: Vec<PyMeta>) -> PyResult<Self> {
        let metas: Vec<KvBatchMeta> = metas.into_iter().map(|m| m.inner).collect();
        KvBatchMeta::concat(&metas)
            .map(|inner| PyMeta { inner })
            .map_err(to_py_err)
    }

    /// Pickling: rebuilt from its fields.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let this = slf.borrow();
        let args = PyTuple::new(
            py,
            [
                this.keys().into_pyobject(py)?.into_any(),
                this.tags(py)?.into_any(),
                this.partition_id().into_pyobject(py)?.into_any(),
                this.fields().into_pyobject(py)?.into_any(),
                this.extra_info(py)?.into_any(),
            ],
        )?;
        Ok((slf.get_type().into_any(), args))
    }
}
