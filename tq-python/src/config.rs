//! `init(config)`'s argument as a tq-facade `Config`.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use tq_facade::{Config, Error};

use crate::convert::input::type_name;
use crate::convert::json::dict_to_map;

/// None: what the environment says (`TQ_CONFIG`, `TQ_BACKEND`), else the
/// in-memory backend. A str or `os.PathLike`: that TOML file. A dict: the
/// same tables as the file (`{"backend": "rocksdb", "rocksdb": {"path":
/// ...}}`), checked by the same code.
pub(crate) fn config_of(config: Option<&Bound<'_, PyAny>>) -> Result<Config, Error> {
    let Some(config) = config.filter(|c| !c.is_none()) else {
        return Config::from_env();
    };
    if let Ok(d) = config.cast::<PyDict>() {
        let map = dict_to_map(d).map_err(|m| Error::config(format!("config dict: {m}")))?;
        let table: toml::Table = tq_facade::serde_json::from_value(map.into()).map_err(|e| {
            Error::config(format!(
                "config dict is not a TOML table (None has no TOML form): {e}"
            ))
        })?;
        let text = toml::to_string(&table)
            .map_err(|e| Error::config(format!("config dict is not a TOML table: {e}")))?;
        return Config::from_toml_str(&text);
    }
    if config.is_instance_of::<PyString>() || config.hasattr("__fspath__").unwrap_or(false) {
        let path: std::path::PathBuf = config
            .extract()
            .map_err(|e| Error::config(format!("config path: {e}")))?;
        return Config::from_file(path);
    }
    Err(Error::config(format!(
        "config must be None, a path to a TOML file, or a dict, got {}",
        type_name(config)
    )))
}
