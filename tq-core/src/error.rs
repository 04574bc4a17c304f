//! The one error type of tq-rs (contract E1).
//!
//! Modelled on OpenDAL's `Error`: a `#[non_exhaustive]` kind that callers match
//! on, the operations that failed (the caller's kv_* call and the backend
//! step inside it), context pairs naming the offending partition,
//! key or field, an honest temporary/permanent classification, and the source.

use std::fmt;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The call's arguments break the contract (empty key list, duplicate keys,
    /// mismatched lengths, a name that is too long, ...). Nothing was written.
    InvalidArgument,
    /// A requested partition, key or field does not exist.
    NotFound,
    /// Stored data is well-formed but cannot be used as asked, e.g. rows of one
    /// field with different dtypes requested as one tensor column.
    InvalidData,
    /// The write would exceed a configured capacity. Nothing was written.
    CapacityExceeded,
    /// The backend or the calling context does not support the operation.
    Unsupported,
    /// The configuration is invalid: unknown backend, unknown setting, bad value.
    Config,
    /// The backend cannot be reached right now (connection refused, timeout,
    /// server restarting). Usually temporary.
    Unavailable,
    /// Stored bytes failed to decode: truncated, wrong version, bad header.
    Corrupted,
    /// A conditional write found the row changed since it was read (contract
    /// U1-U4): `kv_update` ran out of retries. Temporary: calling again may
    /// succeed. The error names the key and says which rows were written.
    Conflict,
    /// A wait ran out of time (contract W1): the error names the keys and
    /// fields still missing. Temporary: waiting again may succeed.
    Timeout,
    /// Anything else: a bug or an unexpected backend answer.
    Unexpected,
}

impl ErrorKind {
    /// A stable, lower-case name of the kind, used in `Display`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::NotFound => "not found",
            ErrorKind::InvalidData => "invalid data",
            ErrorKind::CapacityExceeded => "capacity exceeded",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Config => "config",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Corrupted => "corrupted",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unexpected => "unexpected",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error of every fallible tq-rs call.
///
/// `Display` reads as
/// `kv_batch_get: not found: keys not found [partition="train", keys="a, b"]`,
/// followed by `: <source>` when there is one.
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// Innermost first: each layer that passes the error on adds its own.
    operations: Vec<&'static str>,
    context: Vec<(&'static str, String)>,
    temporary: bool,
    source: Option<Source>,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a human-readable message. It is permanent
    /// unless the kind is [`ErrorKind::Unavailable`], [`ErrorKind::Conflict`] or
    /// [`ErrorKind::Timeout`]; use
    /// [`Error::set_temporary`] to say otherwise.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            operations: Vec::new(),
            context: Vec::new(),
            temporary: matches!(
                kind,
                ErrorKind::Unavailable | ErrorKind::Conflict | ErrorKind::Timeout
            ),
            source: None,
        }
    }

    /// Shorthand for [`ErrorKind::InvalidArgument`].
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// Shorthand for [`ErrorKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// Shorthand for [`ErrorKind::InvalidData`].
    pub fn invalid_data(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidData, message)
    }

    /// Shorthand for [`ErrorKind::Corrupted`].
    pub fn corrupted(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Corrupted, message)
    }

    /// Shorthand for [`ErrorKind::Config`].
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// Shorthand for [`ErrorKind::Unsupported`].
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    /// Shorthand for [`ErrorKind::Unexpected`].
    pub fn unexpected(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unexpected, message)
    }

    /// Records an operation (`"kv_batch_put"`, `"rocksdb::put"`, ...) the
    /// error passed through. Each layer adds its own, innermost first, so the
    /// error names both the caller's kv_* call and the step that failed; an
    /// operation already recorded is not added again.
    pub fn with_operation(mut self, operation: &'static str) -> Self {
        if !operation.is_empty() && !self.operations.contains(&operation) {
            self.operations.push(operation);
        }
        self
    }

    /// Adds a context pair such as `("partition", "train")`.
    pub fn with_context(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.context.push((key, value.into()));
        self
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Marks the error as temporary (retrying the same call may succeed) or
    /// permanent.
    pub fn set_temporary(mut self, temporary: bool) -> Self {
        self.temporary = temporary;
        self
    }

    /// The kind, for matching.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without operation, context or source.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The outermost operation recorded (the kv_* call the caller made), or
    /// `""` if none was.
    pub fn operation(&self) -> &'static str {
        self.operations.last().copied().unwrap_or("")
    }

    /// Every operation recorded, outermost first: `["kv_batch_put",
    /// "redis::put"]`.
    pub fn operations(
        &self,
    ) -> impl DoubleEndedIterator<Item = &'static str> + ExactSizeIterator + '_ {
        self.operations.iter().rev().copied()
    }

    /// The context pairs, in the order they were added.
    pub fn context(&self) -> &[(&'static str, String)] {
        &self.context
    }

    /// The value of the first context pair named `key`.
    pub fn context_value(&self, key: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether retrying the same call later may succeed (a dropped connection,
    /// a server restart), as opposed to a permanent failure (bad input, wrong
    /// password, corrupted data).
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for operation in self.operations() {
            write!(f, "{operation}: ")?;
        }
        write!(f, "{}: {}", self.kind, self.message)?;
        if !self.context.is_empty() {
            f.write_str(" [")?;
            for (i, (k, v)) in self.context.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}={v:?}")?;
            }
            f.write_str("]")?;
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug output is what `unwrap()` and `?` in `main` print: make it the
        // readable form, with the classification that Display leaves out.
        write!(f, "{self} (temporary: {})", self.temporary)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_operation_kind_context_and_source() {
        let io = std::io::Error::other("disk on fire");
        let err = Error::not_found("keys not found")
            .with_operation("kv_batch_get")
            .with_context("partition", "train")
            .with_context("keys", "a, b")
            .with_source(io);
        assert_eq!(
            err.to_string(),
            "kv_batch_get: not found: keys not found [partition=\"train\", keys=\"a, b\"]: disk on fire"
        );
        assert_eq!(err.context_value("keys"), Some("a, b"));
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn only_unavailable_defaults_to_temporary() {
        assert!(Error::new(ErrorKind::Unavailable, "x").is_temporary());
        assert!(!Error::invalid_argument("x").is_temporary());
        assert!(Error::unexpected("x").set_temporary(true).is_temporary());
    }

    #[test]
    fn outer_and_inner_operations_are_both_kept() {
        let err = Error::corrupted("bad")
            .with_operation("codec::decode")
            .with_operation("redis::get")
            .with_operation("kv_batch_get")
            .with_operation("kv_batch_get");
        assert_eq!(err.operation(), "kv_batch_get");
        assert_eq!(
            err.operations().collect::<Vec<_>>(),
            ["kv_batch_get", "redis::get", "codec::decode"]
        );
        assert_eq!(
            err.to_string(),
            "kv_batch_get: redis::get: codec::decode: corrupted: bad"
        );
    }
}
