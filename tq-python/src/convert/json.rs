//! Python objects <-> JSON values (tags and non-tensor cells).

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use tq_facade::serde_json::{Map, Number, Value};

/// Deeper than this the conversion stops: the core refuses JSON nested more
/// than 64 levels anyway, and a list that contains itself must not recurse
/// for ever.
const MAX_DEPTH: usize = 128;

/// `obj` as JSON: None, bool, int (64-bit), float (finite), str, and dicts
/// with str keys, lists and tuples of those; numpy scalars and arrays through
/// their `tolist()`. Anything else is an error message naming its type.
pub(crate) fn to_json(obj: &Bound<'_, PyAny>) -> Result<Value, String> {
    to_json_at(obj, 0)
}

fn to_json_at(obj: &Bound<'_, PyAny>, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "nests deeper than {MAX_DEPTH} levels (or contains itself)"
        ));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        if let Ok(v) = i.extract::<i64>() {
            return Ok(Value::from(v));
        }
        if let Ok(v) = i.extract::<u64>() {
            return Ok(Value::from(v));
        }
        return Err(format!("integer {i} does not fit in 64 bits"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| format!("float {v} is not JSON (NaN and infinities are not)"));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(
            s.to_str().map_err(|e| e.to_string())?.to_owned(),
        ));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return dict_to_map_at(d, depth).map(Value::Object);
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return l.iter().map(|x| to_json_at(&x, depth + 1)).collect();
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return t.iter().map(|x| to_json_at(&x, depth + 1)).collect();
    }
    // numpy scalars and small arrays (a reward as np.float32, say).
    if obj.hasattr("dtype").unwrap_or(false)
        && let Ok(plain) = obj.call_method0("tolist")
    {
        return to_json_at(&plain, depth + 1);
    }
    let type_name = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    Err(format!("a {type_name} object is not JSON-able"))
}

/// A dict with str keys as a JSON object (a tag).
pub(crate) fn dict_to_map(d: &Bound<'_, PyDict>) -> Result<Map<String, Value>, String> {
    dict_to_map_at(d, 0)
}

fn dict_to_map_at(d: &Bound<'_, PyDict>, depth: usize) -> Result<Map<String, Value>, String> {
    let mut map = Map::with_capacity(d.len());
    for (k, v) in d.iter() {
        let Ok(key) = k.cast::<PyString>() else {
            return Err(format!("dict key {k} is not a str (JSON keys are strings)"));
        };
        let key = key.to_str().map_err(|e| e.to_string())?.to_owned();
        let value = to_json_at(&v, depth + 1).map_err(|e| format!("[{key:?}]: {e}"))?;
        map.insert(key, value);
    }
    Ok(map)
}

/// `value` as a Python object.
pub(crate) fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => map_to_py(py, map)?.into_any(),
    })
}

/// A JSON object (a tag) as a dict.
pub(crate) fn map_to_py<'py>(
    py: Python<'py>,
    map: &Map<String, Value>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in map {
        dict.set_item(k, to_py(py, v)?)?;
    }
    Ok(dict)
}
