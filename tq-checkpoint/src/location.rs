//! Where a checkpoint lives: an object store and a prefix in it.

use std::fmt;
use std::sync::Arc;

use object_store::ObjectStore;
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

    /// A checkpoint at `url`: `file:///abs/dir`, or `memory:///prefix` (a
    /// fresh in-memory store, so only useful through [`Location::store`]).
    /// Cloud schemes need `object_store`'s cloud features, not turned on yet
    /// (see DESIGN.md). The error never repeats the URL: it may hold
    /// credentials.
    pub fn from_url(url: &str) -> Result<Self> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::invalid_argument("the checkpoint URL does not parse").with_source(e)
        })?;
        let (store, prefix) = object_store::parse_url(&parsed).map_err(|e| {
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

/// An object-store error reduced to its kind: its text may quote a URL with
/// credentials.
fn redacted(e: object_store::Error) -> String {
    match e {
        object_store::Error::NotImplemented { .. } => "scheme not built in".into(),
        _ => "the URL was refused".into(),
    }
}
