//! The `[checkpoint]` table of the config: object_store builder settings
//! for checkpoint URLs (`TransferQueue::save_checkpoint`,
//! `load_checkpoint`), the same for every backend. They override the
//! environment (`AWS_*`, ...), which object_store reads as its `from_env`
//! builders do.
//!
//! ```toml
//! [checkpoint]
//! aws_endpoint = "http://127.0.0.1:9000"
//! aws_region = "us-east-1"
//! aws_access_key_id = "tq"
//! aws_secret_access_key = "..."
//! allow_http = true
//! ```
//!
//! Values are secrets as far as this crate knows: `Debug` and errors show
//! setting names only.

use std::collections::BTreeMap;
use std::fmt;

use tq_checkpoint::{Location, is_store_setting};
use tq_core::{Error, Result};

/// The name of the table; no backend can be called this.
pub(crate) const CHECKPOINT_TABLE: &str = "checkpoint";

/// object_store settings for checkpoint URLs (the `[checkpoint]` table).
/// `Debug` shows the names only, never a value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CheckpointSettings {
    settings: BTreeMap<String, String>,
}

impl CheckpointSettings {
    /// No settings: the environment's only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets object_store builder setting `name` (such as `aws_region`).
    /// An unknown name is an `InvalidArgument` naming it (object_store
    /// would ignore it in silence).
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Result<Self> {
        check_name(name)?;
        self.settings.insert(name.to_owned(), value.into());
        Ok(self)
    }

    /// The names of the settings set, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.settings.keys().map(String::as_str)
    }

    /// Whether no setting is set.
    pub fn is_empty(&self) -> bool {
        self.settings.is_empty()
    }

    /// The checkpoint at `url` with these settings.
    pub fn location(&self, url: &str) -> Result<Location> {
        Location::from_url_with(url, self.settings.iter().map(|(k, v)| (k, v.clone())))
    }
}

impl fmt::Debug for CheckpointSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointSettings")
            .field("names", &self.settings.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn check_name(name: &str) -> Result<()> {
    if is_store_setting(name) {
        return Ok(());
    }
    Err(Error::invalid_argument(format!(
        "unknown checkpoint setting `{name}`: not an object_store setting of a cloud store \
         this build has (aws_*, google_*, azure_* names of the s3, gcp and azure features)"
    ))
    .with_context("setting", name))
}

/// The settings of a `[checkpoint]` table; errors name
/// `checkpoint.<setting>`, never a value.
pub(crate) fn parse_checkpoint_table(table: toml::Table) -> Result<CheckpointSettings> {
    let mut settings = CheckpointSettings::new();
    for (name, value) in table {
        let setting = format!("{CHECKPOINT_TABLE}.{name}");
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Integer(i) => i.to_string(),
            other => {
                return Err(Error::config(format!(
                    "setting `{setting}` must be a string, a boolean or an integer, got {}",
                    other.type_str()
                ))
                .with_context("setting", setting));
            }
        };
        settings = settings.with(&name, text).map_err(|e| {
            Error::config(format!("[{CHECKPOINT_TABLE}]: {}", e.message()))
                .with_context("setting", setting.clone())
        })?;
    }
    Ok(settings)
}
