//! [`Fixture`]: the store a case runs against, and the hooks through which
//! the suite checks what only the backend's own test code can arrange
//! (corrupt stored bytes, reopen the store, limit its capacity).
//!
//! A case that needs a hook the fixture lacks fails and says which hook to
//! give. A backend for which a hook makes no sense says so explicitly
//! ([`Fixture::without_stored_bytes`], [`Fixture::without_capacity_limit`]),
//! so nothing is skipped by omission.

use std::any::Any;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::Kv;
use super::instrument::{BackendCalls, Instrumented};
use crate::backend::{Capabilities, StorageBackend};
use crate::error::{Error, Result};
use crate::kv::{KvApi, KvStore};

/// Which stored bytes of a row a corruption hook overwrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Corruption {
    /// Every stored cell value of the row: afterwards they must not decode.
    Cells,
    /// The row's stored tag: afterwards it must not parse.
    Tag,
}

type CorruptHook =
    Arc<dyn Fn(String, String, Corruption) -> BoxFuture<'static, Result<()>> + Send + Sync>;
type ReopenHook = Arc<dyn Fn() -> BoxFuture<'static, Result<Fixture>> + Send + Sync>;
type CapacityHook = Arc<dyn Fn(u64) -> BoxFuture<'static, Result<Fixture>> + Send + Sync>;

/// A fresh, empty store for one case, whatever must live as long as it, and
/// the hooks some cases need.
///
/// Dereferences to the [`Kv`] under test.
pub struct Fixture {
    kv: Option<Kv>,
    calls: Option<Arc<BackendCalls>>,
    guards: Vec<Box<dyn Any + Send>>,
    corruptor: Option<CorruptHook>,
    stores_no_bytes: bool,
    reopen: Option<ReopenHook>,
    capacity: Option<CapacityHook>,
    no_capacity_limit: bool,
    claimed: Option<Capabilities>,
    backend_capabilities: Option<Capabilities>,
}

impl Fixture {
    /// A fixture over any implementation of the kv_* API. The suite cannot
    /// see its backend calls, so the B1 case fails for it: prefer
    /// [`Fixture::from_backend`] or [`Fixture::wrapping`].
    pub fn new(kv: impl KvApi + 'static) -> Self {
        Self::over(Arc::new(kv), None)
    }

    fn over(kv: Kv, calls: Option<Arc<BackendCalls>>) -> Self {
        Fixture {
            kv: Some(kv),
            calls,
            guards: Vec::new(),
            corruptor: None,
            stores_no_bytes: false,
            reopen: None,
            capacity: None,
            no_capacity_limit: false,
            claimed: None,
            backend_capabilities: None,
        }
    }

    /// A fixture over a backend, wrapped in [`KvStore`], with its calls
    /// counted.
    pub fn from_backend(backend: impl StorageBackend) -> Self {
        Self::from_backend_arc(Arc::new(backend))
    }

    /// [`Fixture::from_backend`] for a backend already behind an `Arc`.
    pub fn from_backend_arc(backend: Arc<dyn StorageBackend>) -> Self {
        let capabilities = backend.capabilities();
        let (layer, calls) = Instrumented::new(backend);
        let mut fixture = Self::over(Arc::new(KvStore::new(Arc::new(layer))), Some(calls));
        fixture.backend_capabilities = Some(capabilities);
        fixture
    }

    /// A fixture over the kv_* API that `build` makes from the backend (the
    /// facade's `TransferQueue::from_backend`, say), with the backend's calls
    /// counted by a layer the suite slips in between.
    pub fn wrapping<K: KvApi + 'static>(
        backend: Arc<dyn StorageBackend>,
        build: impl FnOnce(Arc<dyn StorageBackend>) -> Result<K>,
    ) -> Result<Self> {
        let capabilities = backend.capabilities();
        let (layer, calls) = Instrumented::new(backend);
        let mut fixture = Self::over(Arc::new(build(Arc::new(layer))?), Some(calls));
        fixture.backend_capabilities = Some(capabilities);
        Ok(fixture)
    }

    /// The capabilities the backend documents. The suite checks that the
    /// backend reports exactly these and that the kv_* API passes them on
    /// (a claim the engine dropped would switch off what the suite checks
    /// of it).
    pub fn claims(mut self, capabilities: Capabilities) -> Self {
        self.claimed = Some(capabilities);
        self
    }

    /// Keeps `guard` (a temp dir, a server process, a namespace to clean up)
    /// alive until the case ends; it is dropped right after the case.
    pub fn with_guard(mut self, guard: impl Any + Send) -> Self {
        self.guards.push(Box::new(guard));
        self
    }

    /// How to corrupt a stored row (rules E3 and B10): `hook(partition, key,
    /// what)` overwrites the row's stored bytes named by `what` with bytes
    /// that do not decode, behind the backend's back. The row exists when it
    /// is called.
    pub fn with_corruptor<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(String, String, Corruption) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.corruptor = Some(Arc::new(move |p, k, w| Box::pin(hook(p, k, w))));
        self
    }

    /// Declares that the backend keeps values as given, in memory, and
    /// never decodes stored bytes, so there is nothing to corrupt: the E3
    /// cases then only check that nothing else breaks.
    pub fn without_stored_bytes(mut self) -> Self {
        self.stores_no_bytes = true;
        self
    }

    /// How to open another handle on the same store: a new backend instance
    /// over the same directory, server and namespace. The `persistent` claim
    /// is checked by dropping this fixture's handle first and reopening; the
    /// `shared_across_processes` claim by using both handles at once.
    pub fn with_reopen<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Fixture>> + Send + 'static,
    {
        self.reopen = Some(Arc::new(move || Box::pin(hook())));
        self
    }

    /// How to build a fresh, empty store that holds at most `limit` payload
    /// bytes: the sum of [`crate::Value::nbytes`] over the stored cells
    /// (tags not counted). A put past it must be `CapacityExceeded` and
    /// write nothing; a clear must give the space back.
    pub fn with_capacity<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Fixture>> + Send + 'static,
    {
        self.capacity = Some(Arc::new(move |limit| Box::pin(hook(limit))));
        self
    }

    /// Declares that the backend has no capacity setting of its own (it is
    /// bounded by its disk or server only): the capacity cases then pass.
    pub fn without_capacity_limit(mut self) -> Self {
        self.no_capacity_limit = true;
        self
    }

    /// The store under test.
    pub fn kv(&self) -> &Kv {
        self.kv
            .as_ref()
            .expect("the fixture's store was closed by a failed reopen")
    }

    /// The backend calls counted so far, when the suite can see them.
    pub fn backend_calls(&self) -> Option<&BackendCalls> {
        self.calls.as_deref()
    }

    /// The documented capabilities, if declared.
    pub(crate) fn claimed_capabilities(&self) -> Option<Capabilities> {
        self.claimed
    }

    /// What the backend itself reported when the fixture was built, when
    /// the suite built the stack.
    pub(crate) fn backend_capabilities(&self) -> Option<Capabilities> {
        self.backend_capabilities
    }

    /// Whether the backend declared it keeps no stored bytes.
    pub(crate) fn stores_no_bytes(&self) -> bool {
        self.stores_no_bytes
    }

    /// Whether the backend declared it has no capacity setting.
    pub(crate) fn has_no_capacity_limit(&self) -> bool {
        self.no_capacity_limit
    }

    /// Corrupts a stored row through the hook.
    pub(crate) async fn corrupt(&self, partition: &str, key: &str, what: Corruption) -> Result<()> {
        let hook = self.corruptor.clone().ok_or_else(|| {
            missing_hook("Fixture::with_corruptor", "Fixture::without_stored_bytes")
        })?;
        hook(partition.to_owned(), key.to_owned(), what).await
    }

    /// Another handle on the same store, this one kept open.
    pub(crate) async fn open_another(&self) -> Result<Fixture> {
        let hook = self
            .reopen
            .clone()
            .ok_or_else(|| missing_hook("Fixture::with_reopen", ""))?;
        hook().await
    }

    /// Drops this fixture's handle, then opens the store again through the
    /// reopen hook (an embedded store may be open only once at a time).
    pub(crate) async fn reopen(&mut self) -> Result<()> {
        let hook = self
            .reopen
            .clone()
            .ok_or_else(|| missing_hook("Fixture::with_reopen", ""))?;
        self.kv = None;
        self.calls = None;
        let mut next = hook().await?;
        self.kv = next.kv.take();
        self.calls = next.calls.take();
        self.backend_capabilities = next.backend_capabilities;
        self.guards.append(&mut next.guards);
        Ok(())
    }

    /// A fresh store limited to `limit` payload bytes.
    pub(crate) async fn with_limit(&self, limit: u64) -> Result<Fixture> {
        let hook = self.capacity.clone().ok_or_else(|| {
            missing_hook("Fixture::with_capacity", "Fixture::without_capacity_limit")
        })?;
        hook(limit).await
    }
}

fn missing_hook(give: &str, or_declare: &str) -> Error {
    let alternative = if or_declare.is_empty() {
        String::new()
    } else {
        format!(", or declare {or_declare}() if it does not apply to this backend")
    };
    Error::unsupported(format!(
        "this case needs a hook the fixture lacks: give it with {give}{alternative}"
    ))
}

impl Deref for Fixture {
    type Target = Kv;

    fn deref(&self) -> &Kv {
        self.kv()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // The store goes before the guards that keep its directory or server.
        self.kv = None;
        self.guards.clear();
    }
}
