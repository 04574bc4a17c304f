//! Where a checkpoint lives: an object store and a prefix in it.

use std::fmt;
use std::sync::{Arc, OnceLock};

use object_store::ObjectStore;
use object_store::memory::InMemory;
use object_store::path::Path;
use tq_core::{Error, Result};

use crate::manifest::MANIFEST_NAME;

/// An object store and the prefix under which one checkpoint lives.
#[derive(Clone)]
pub struct Location {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

impl Location {
    /// A checkpoint under `prefix` of `store`.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Path) -> Self {
        Location { store, prefix }
    }

    /// A checkpoint at `url`: `file:///abs/dir`; `memory:///prefix`, in
    /// the process's in-memory object store (one for the whole process, so a
    /// checkpoint saved to a `memory://` URL loads from the same URL until
    /// the process ends: tests and dry runs); `s3://bucket/prefix` (feature
    /// `s3`), `gs://bucket/prefix` (feature `gcp`), `az://container/prefix`
    /// (feature `azure`; also `adl`, `azure`, `abfs`, `abfss`), all three on
    /// by default. Cloud
    /// credentials and settings come from the environment as object_store's
    /// `from_env` builders read them (`AWS_*`, `GOOGLE_*`, `AZURE_*`); see
    /// [`Location::from_url_with`]. A URL holding a user or password is
    /// refused (object_store would drop them and sign with others). The
    /// error never repeats the URL: it may hold credentials.
    pub fn from_url(url: &str) -> Result<Self> {
        Self::from_url_with(url, std::iter::empty::<(String, String)>())
    }

    /// [`Location::from_url`] with object_store builder settings (such as
    /// `aws_endpoint`, `aws_region`, `aws_access_key_id`,
    /// `aws_secret_access_key`, `aws_allow_http` for an S3-compatible server
    /// on plain HTTP), which override the environment's. Settings of another
    /// store's kind, or unknown to object_store, are ignored (object_store's
    /// `parse_url_opts`). Neither the URL nor any setting's value is quoted
    /// by an error.
    pub fn from_url_with<I, K, V>(url: &str, settings: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::invalid_argument("the checkpoint URL does not parse").with_source(e)
        })?;
        // object_store would drop them silently and sign with other ones.
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Error::invalid_argument(
                "the checkpoint URL holds credentials: give them as settings instead",
            ));
        }
        // Later settings win, so the caller's override the environment's.
        let env = std::env::vars().filter(|(name, _)| {
            ["AWS_", "GOOGLE_", "AZURE_"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
        });
        let settings = env.chain(
            settings
                .into_iter()
                .map(|(k, v)| (k.as_ref().to_owned(), v.into())),
        );
        if parsed.scheme() == "memory" {
            // object_store would give a fresh, empty store per URL: a load
            // could never see what a save wrote.
            let (_, prefix) = object_store::ObjectStoreScheme::parse(&parsed).map_err(|e| {
                Error::invalid_argument("the memory:// URL does not parse")
                    .with_source(redacted(e.into()))
            })?;
            return Ok(Location::new(process_memory_store(), prefix));
        }
        let (store, prefix) = object_store::parse_url_opts(&parsed, settings).map_err(|e| {
            Error::invalid_argument(format!(
                "no object store for the checkpoint URL of scheme {:?}",
                parsed.scheme()
            ))
            .with_source(redacted(e))
        })?;
        Ok(Location::new(Arc::from(store), prefix))
    }

    /// The object store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The prefix of the checkpoint's objects.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The path of the object `relative` (`/`-separated) under the prefix.
    pub fn object(&self, relative: &str) -> Path {
        relative
            .split('/')
            .fold(self.prefix.clone(), |path, part| path.join(part))
    }

    /// The manifest's path.
    pub fn manifest(&self) -> Path {
        self.object(MANIFEST_NAME)
    }
}

impl fmt::Debug for Location {
    /// The store's kind and the prefix: no credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Location")
            .field("prefix", &self.prefix.as_ref())
            .finish_non_exhaustive()
    }
}

/// The in-memory object store of `memory://` URLs, one per process.
fn process_memory_store() -> Arc<dyn ObjectStore> {
    static STORE: OnceLock<Arc<InMemory>> = OnceLock::new();
    STORE.get_or_init(|| Arc::new(InMemory::new())).clone()
}

/// An object-store error reduced to its kind: its text may quote a URL with
/// credentials, or a setting's value.
fn redacted(e: object_store::Error) -> String {
    match e {
        // parse_url reports a scheme whose feature is off as Generic.
        object_store::Error::NotImplemented { .. }
        | object_store::Error::Generic {
            store: "parse_url", ..
        } => "scheme not built in".into(),
        object_store::Error::Generic { store, .. } => {
            format!("the {store} store refused the URL or its settings")
        }
        _ => "the URL was refused".into(),
    }
}

/// Whether `name` is an object_store builder setting of a cloud store this
/// build has (`s3`: `AmazonS3ConfigKey`, `gcp`: `GoogleConfigKey`, `azure`:
/// `AzureConfigKey`), so a configuration can refuse a misspelt one instead
/// of object_store ignoring it. One settings table serves every scheme:
/// each store takes its own names and ignores the others'.
pub fn is_store_setting(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let known: &[bool] = &[
        #[cfg(feature = "s3")]
        name.parse::<object_store::aws::AmazonS3ConfigKey>().is_ok(),
        #[cfg(feature = "gcp")]
        name.parse::<object_store::gcp::GoogleConfigKey>().is_ok(),
        #[cfg(feature = "azure")]
        name.parse::<object_store::azure::AzureConfigKey>().is_ok(),
    ];
    // Without a cloud feature no store takes settings.
    let _ = &name;
    known.contains(&true)
}
