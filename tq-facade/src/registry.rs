//! Backends by name: the built-ins and any registered in code.

use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use tq_core::{Error, Result, StorageBackend};

use crate::config::Config;

/// Opens one kind of backend from its settings table.
///
/// Most backends need not implement this by hand: [`BackendRegistry::register_typed`]
/// builds one from a typed settings struct and an `open` function.
#[async_trait]
pub trait BackendFactory: Send + Sync + 'static {
    /// Checks settings without opening anything; errors name the setting.
    fn validate(&self, settings: &toml::Table) -> Result<()>;

    /// Opens the backend.
    async fn open(&self, settings: toml::Table) -> Result<Arc<dyn StorageBackend>>;
}

/// A factory from a `serde` settings type `C` and an async `open(C)`.
struct TypedFactory<C, F> {
    open: F,
    _config: PhantomData<fn() -> C>,
}

/// Deserializes a settings table; errors name the setting's path.
/// [`parse`] for a top-level table of the engine's own (`[update]`,
/// `[wait]`): the message names the table, the `setting` context is
/// `<table>.<setting>`.
pub(crate) fn parse_engine_table<C: DeserializeOwned>(
    name: &'static str,
    settings: toml::Table,
) -> Result<C> {
    parse(settings).map_err(|e| {
        let setting = e.context_value("setting").map(|s| format!("{name}.{s}"));
        let e = Error::config(format!("[{name}]: {}", e.message()));
        match setting {
            Some(s) => e.with_context("setting", s),
            None => e,
        }
    })
}

pub(crate) fn parse<C: DeserializeOwned>(settings: toml::Table) -> Result<C> {
    serde_path_to_error::deserialize(toml::Value::Table(settings)).map_err(|e| {
        let path = e.path().to_string();
        let message = without_values(e.inner().message());
        match path.as_str() {
            "" | "." => Error::config(message),
            _ => {
                Error::config(format!("setting `{path}`: {message}")).with_context("setting", path)
            }
        }
    })
}

/// A `serde` message with the offending value taken out: "invalid type:
/// string \"hunter2\", expected u64" becomes "invalid type: string,
/// expected u64", since the value may be a secret given in the wrong place.
pub(crate) fn without_values(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((unexpected, expected)) = rest.split_once(", expected ")
        {
            let kind = unexpected
                .split(['`', '"', '\''])
                .next()
                .unwrap_or_default()
                .trim();
            return format!("{prefix}{kind}, expected {expected}");
        }
    }
    message.to_owned()
}

#[async_trait]
impl<C, F, Fut, B> BackendFactory for TypedFactory<C, F>
where
    C: DeserializeOwned + Send + 'static,
    F: Fn(C) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<B>> + Send,
    B: StorageBackend,
{
    fn validate(&self, settings: &toml::Table) -> Result<()> {
        parse::<C>(settings.clone()).map(drop)
    }

    async fn open(&self, settings: toml::Table) -> Result<Arc<dyn StorageBackend>> {
        let config = parse::<C>(settings)?;
        Ok(Arc::new((self.open)(config).await?))
    }
}

/// Maps backend names to factories.
///
/// [`BackendRegistry::default`] holds the built-ins this build has (cargo
/// features `memory`, `rocksdb`, `redis`); register your own with
/// [`register_typed`](Self::register_typed) and select it from the config
/// file like a built-in.
#[derive(Clone)]
pub struct BackendRegistry {
    factories: BTreeMap<String, Arc<dyn BackendFactory>>,
}

impl std::fmt::Debug for BackendRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

impl Default for BackendRegistry {
    /// The built-in backends of this build.
    fn default() -> Self {
        let mut registry = Self::empty();
        crate::builtin::register_builtins(&mut registry);
        registry
    }
}

impl BackendRegistry {
    /// A registry with no backends at all.
    pub fn empty() -> Self {
        BackendRegistry {
            factories: BTreeMap::new(),
        }
    }

    /// Registers `factory` under `name`, replacing any earlier one (so a
    /// built-in can be overridden).
    pub fn register(&mut self, name: impl Into<String>, factory: impl BackendFactory) -> &mut Self {
        self.factories.insert(name.into(), Arc::new(factory));
        self
    }

    /// Registers a backend whose settings table deserializes into `C` (use
    /// `#[serde(deny_unknown_fields)]` so typos are errors) and which
    /// `open` builds from it. A `C` that also derives `Serialize` can be
    /// given in code as well as in the file:
    /// [`Config::with_typed_settings`](crate::Config::with_typed_settings).
    ///
    /// ```
    /// # use tq_facade::BackendRegistry;
    /// # use tq_backend_memory::{MemoryBackend, MemoryConfig};
    /// let mut registry = BackendRegistry::default();
    /// registry.register_typed("scratch", |c: MemoryConfig| async move {
    ///     Ok(MemoryBackend::with_config(c))
    /// });
    /// assert!(registry.names().any(|n| n == "scratch"));
    /// ```
    pub fn register_typed<C, F, Fut, B>(&mut self, name: impl Into<String>, open: F) -> &mut Self
    where
        C: DeserializeOwned + Send + 'static,
        F: Fn(C) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<B>> + Send,
        B: StorageBackend,
    {
        self.register(
            name,
            TypedFactory {
                open,
                _config: PhantomData,
            },
        )
    }

    /// The registered names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }

    /// Checks `config` against the registry: the selected backend exists,
    /// every settings table names a registered backend, and every table's
    /// settings parse.
    pub fn validate(&self, config: &Config) -> Result<()> {
        self.factory(config.backend())?;
        config.check_unwritable()?;
        for section in config.sections() {
            let factory = self.factories.get(section).ok_or_else(|| {
                Error::config(format!(
                    "unknown setting `{section}`: no backend of that name is registered (registered: {})",
                    self.names().collect::<Vec<_>>().join(", ")
                ))
                .with_context("setting", section)
            })?;
            let settings = config.settings(section).cloned().unwrap_or_default();
            factory
                .validate(&settings)
                .map_err(|e| section_error(e, section))?;
        }
        Ok(())
    }

    /// Validates `config` and opens its backend.
    pub async fn open(&self, config: &Config) -> Result<Arc<dyn StorageBackend>> {
        self.validate(config)?;
        let name = config.backend();
        let settings = config.settings(name).cloned().unwrap_or_default();
        self.factory(name)?
            .open(settings)
            .await
            .map_err(|e| e.with_operation("open").with_context("backend", name))
    }

    fn factory(&self, name: &str) -> Result<&Arc<dyn BackendFactory>> {
        self.factories.get(name).ok_or_else(|| {
            Error::config(format!(
                "unknown backend `{name}`; registered backends: {}",
                self.names().collect::<Vec<_>>().join(", ")
            ))
            .with_context("backend", name)
        })
    }
}

fn section_error(e: Error, section: &str) -> Error {
    Error::config(format!("invalid [{section}] settings: {}", e.message()))
        .with_context("backend", section)
        .with_source(e)
}
