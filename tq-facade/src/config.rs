//! The configuration: which backend, and its settings.

use std::fmt;
use std::path::Path;

use tq_core::{Error, Result};

/// Environment variable naming the TOML config file.
pub const ENV_CONFIG: &str = "TQ_CONFIG";
/// Environment variable overriding the file's `backend`.
pub const ENV_BACKEND: &str = "TQ_BACKEND";
/// The backend used when nothing says otherwise.
pub const DEFAULT_BACKEND: &str = "memory";

/// Which backend to open, and the settings of each backend.
///
/// The TOML form: a top-level `backend` naming a registered backend
/// (default `"memory"`), and one table per backend holding its settings.
/// Tables of backends other than the selected one may be present (so one
/// file can serve several deployments through `TQ_BACKEND`); they are
/// checked too. Any other top-level key is an error naming it.
///
/// ```toml
/// backend = "rocksdb"
///
/// [rocksdb]
/// path = "/var/lib/tq"
///
/// [memory]
/// capacity_bytes = 8589934592
/// ```
///
/// `Debug` shows the backend and the names of the settings, never their
/// values, so passwords in URLs or settings cannot leak into logs.
#[derive(Clone, PartialEq)]
pub struct Config {
    backend: String,
    sections: toml::Table,
}

impl Default for Config {
    /// The in-memory backend with default settings.
    fn default() -> Self {
        Config::new(DEFAULT_BACKEND)
    }
}

impl Config {
    /// Selects `backend` with default settings.
    pub fn new(backend: impl Into<String>) -> Self {
        Config {
            backend: backend.into(),
            sections: toml::Table::new(),
        }
    }

    /// Sets the settings table of `backend` (any backend, selected or not).
    pub fn with_settings(mut self, backend: impl Into<String>, settings: toml::Table) -> Self {
        self.sections
            .insert(backend.into(), toml::Value::Table(settings));
        self
    }

    /// Selects another backend, keeping all settings tables.
    pub fn with_backend(mut self, backend: impl Into<String>) -> Self {
        self.backend = backend.into();
        self
    }

    /// Parses TOML text.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| syntax_error(text, &e))?;
        let backend = match table.remove("backend") {
            None => DEFAULT_BACKEND.to_owned(),
            Some(toml::Value::String(s)) => s,
            Some(other) => {
                return Err(Error::config(format!(
                    "setting `backend` must be a string, got {}",
                    other.type_str()
                ))
                .with_context("setting", "backend"));
            }
        };
        for (name, value) in &table {
            if !value.is_table() {
                return Err(Error::config(format!(
                    "unknown setting `{name}`: the top level holds only `backend` and one table per backend"
                ))
                .with_context("setting", name.clone()));
            }
        }
        Ok(Config {
            backend,
            sections: table,
        })
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!("cannot read config file {}", path.display()))
                .with_context("path", path.display().to_string())
                .with_source(e)
        })?;
        Self::from_toml_str(&text).map_err(|e| e.with_context("path", path.display().to_string()))
    }

    /// The configuration the environment describes: the file `TQ_CONFIG`
    /// names, if set, else the default (in-memory); then `TQ_BACKEND`, if
    /// set, overrides the backend.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Config::from_env`] with a custom variable lookup (for tests and for
    /// programs that read their environment elsewhere).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let config = match lookup(ENV_CONFIG).filter(|p| !p.is_empty()) {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        Ok(match lookup(ENV_BACKEND).filter(|b| !b.is_empty()) {
            Some(backend) => config.with_backend(backend),
            None => config,
        })
    }

    /// The selected backend's name.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// The settings table of `backend`, if the configuration has one.
    pub fn settings(&self, backend: &str) -> Option<&toml::Table> {
        self.sections.get(backend).and_then(toml::Value::as_table)
    }

    /// The names of all settings tables.
    pub fn sections(&self) -> impl Iterator<Item = &str> {
        self.sections.keys().map(String::as_str)
    }
}

/// Words that mark a line of the file as holding a secret: a password
/// setting, or a URL with credentials in it.
const SECRET_MARKERS: [&str; 5] = ["password", "passwd", "secret", "token", "@"];

/// A TOML syntax error that says where, never what: `toml`'s own `Display`
/// quotes the offending line, which may hold a password. The parser's
/// message is kept unless the line looks like it holds a secret.
fn syntax_error(text: &str, e: &toml::de::Error) -> Error {
    let Some(span) = e.span() else {
        return Error::config("config is not valid TOML");
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_no = text[..start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let line = text[line_start..line_end].to_ascii_lowercase();
    let message = if SECRET_MARKERS.iter().any(|m| line.contains(m)) {
        "(not shown: the line holds a secret)".to_owned()
    } else {
        e.message().trim().replace('\n', "; ")
    };
    Error::config(format!(
        "config is not valid TOML at line {line_no}, column {column}: {message}"
    ))
    .with_context("line", line_no.to_string())
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Names<'a>(&'a toml::Table);
        impl fmt::Debug for Names<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut map = f.debug_map();
                for (section, value) in self.0 {
                    let keys: Vec<&str> = value
                        .as_table()
                        .map(|t| t.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    map.entry(section, &keys);
                }
                map.finish()
            }
        }
        f.debug_struct("Config")
            .field("backend", &self.backend)
            .field("settings", &Names(&self.sections))
            .finish()
    }
}
