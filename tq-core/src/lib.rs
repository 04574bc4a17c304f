//! # tq-core
//!
//! The heart of tq-rs, a Rust data gateway for reinforcement-learning
//! post-training with the vocabulary of the Python TransferQueue KV API:
//!
//! - the data model: [`DType`], [`Tensor`], [`NonTensor`], [`Value`], [`Row`],
//!   [`Batch`] with [`Column`]s and the type-stable [`TensorColumn`], [`Tag`],
//!   [`KvBatchMeta`];
//! - the KV semantics of the contract (contract section 3), once, in [`KvStore`];
//! - the [`StorageBackend`] trait a backend implements, with its Behavior
//!   list and [`Capabilities`];
//! - the [`Error`] type;
//! - the versioned value [`codec`] for backends that store bytes;
//! - the conformance suite (feature `conformance`): [`conformance_tests!`].
#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]

mod backend;
mod batch;
pub mod buffer;
pub mod codec;
mod column;
mod conditional;
#[cfg(feature = "conformance")]
pub mod conformance;
mod dtype;
mod error;
mod fields;
pub mod json;
mod kv;
mod meta;
pub mod names;
mod row;
mod row_write;
mod tag;
mod tensor;
mod update;
mod value;
mod watch;
mod watch_hub;
mod watch_layer;

pub use async_trait::async_trait;
pub use backend::{Capabilities, StorageBackend};
pub use batch::{Batch, Column};
pub use bytes::Bytes;
pub use column::TensorColumn;
pub use conditional::{ConditionalBackend, PutIfOutcome, RowVersion, VersionedRow};
pub use dtype::{ALL_DTYPES, DType, Element};
pub use error::{Error, ErrorKind, Result};
pub use fields::FieldNames;
/// The map crate of [`Listing`] (partition -> key -> tag, in insertion order).
pub use indexmap;
pub use kv::{KvApi, KvStore};
pub use meta::{KvBatchMeta, Listing};
pub use row::Row;
pub use row_write::{CellWrite, Cells, RowState, RowWrite};
/// The JSON crate of [`Tag`] and [`NonTensor::Json`]: build and read tags
/// with `tq_core::serde_json::{json, Value, Map}`, no extra dependency.
///
/// ```
/// use tq_core::serde_json::{Value, json};
/// use tq_core::{Tag, tag};
///
/// let tag: Tag = tag! {"status" => "running", "scores" => json!([0.5, 0.25])};
/// assert_eq!(tag.get("status").and_then(Value::as_str), Some("running"));
/// assert_eq!(tag["scores"][1], json!(0.25));
/// ```
pub use serde_json;
pub use tag::{Tag, merge_tag};
pub use tensor::{MAX_NDIM, Tensor, tensor_nbytes};
pub use update::{CurrentRow, MergeFn, RowChange, UpdatePolicy};
pub use value::{NonTensor, Value};
pub use watch::{Notifications, WatchBackend, WatchEvent, WatchStream};
pub use watch_hub::{Publisher, WatchHub, WrittenRow};
pub use watch_layer::WatchLayer;

/// Re-exports for macros; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use serde_json;
    #[cfg(feature = "conformance")]
    pub use tokio;
}

/// The KV contract, the repository's `docs/CONTRACT.md`: every rule the
/// kv_* operations, the engine and the backends follow, each with the
/// conformance test that checks it. The kv_* methods of [`KvStore`] link
/// their rules here.
#[doc = include_str!("../CONTRACT.md")]
pub mod contract {}
