//! # tq-facade
//!
//! The front door of tq-rs: a [`TransferQueue`] with the kv_* API of the
//! Python TransferQueue (`kv_put`, `kv_batch_put`, `kv_batch_get`,
//! `kv_batch_get_by_meta`, `kv_list`, `kv_clear` of rows or of fields,
//! `kv_update`, `kv_batch_update`) over a backend chosen at
//! run time from a [`Config`] (a TOML file, usually), async or
//! [`blocking`].
//!
//! - No configuration at all: the embedded in-memory backend.
//! - `TQ_CONFIG=/path/to/tq.toml`: the backend and settings that file names;
//!   `TQ_BACKEND=name` overrides the file's choice.
//! - Custom backends: implement [`StorageBackend`], register it in a
//!   [`BackendRegistry`] by name, select it from the file like a built-in.
//!
//! The types of the data model are re-exported from `tq-core`, so this crate
//! is the only one an application needs.
#![deny(missing_docs)]

pub mod blocking;
mod builtin;
mod config;
mod queue;
mod registry;

pub use config::{Config, DEFAULT_BACKEND, ENV_BACKEND, ENV_CONFIG};
pub use queue::TransferQueue;
pub use registry::{BackendFactory, BackendRegistry};
/// The core crate, for what the re-exports above leave out (codec, names).
pub use tq_core as core;
pub use tq_core::{
    Batch, Bytes, Capabilities, CellWrite, Cells, Column, ConditionalBackend, CurrentRow, DType,
    Element, Error, ErrorKind, FieldNames, KvApi, KvBatchMeta, KvStore, Listing, MergeFn,
    NonTensor, PutIfOutcome, Result, Row, RowChange, RowState, RowVersion, RowWrite,
    StorageBackend, Tag, Tensor, TensorColumn, UpdatePolicy, Value, VersionedRow, async_trait,
    merge_tag, tag,
};
