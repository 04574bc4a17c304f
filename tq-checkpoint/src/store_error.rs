//! Object-store failures as `tq_core::Error`s naming the object.

use object_store::path::Path;
use tq_core::{Error, ErrorKind};

/// `e`, met while doing `what` to `object`, as a tq error: `NotFound` for a
/// missing object, `Config` for credentials the store refused (retrying
/// cannot help), `Unavailable` (temporary) for the rest, which are mostly
/// network and service failures. The source's text is kept: object_store
/// names paths, never credentials, in its messages.
pub fn store_error(e: object_store::Error, what: &str, object: &Path) -> Error {
    let kind = match e {
        object_store::Error::NotFound { .. } => ErrorKind::NotFound,
        object_store::Error::Unauthenticated { .. }
        | object_store::Error::PermissionDenied { .. } => ErrorKind::Config,
        _ => ErrorKind::Unavailable,
    };
    let temporary = kind == ErrorKind::Unavailable;
    Error::new(kind, format!("{what} {object} failed"))
        .with_context("object", object.as_ref())
        .with_source(e)
        .set_temporary(temporary)
}
