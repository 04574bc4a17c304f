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
//! - In code, without a file: a built-in backend's typed settings
//!   (`MemoryConfig`, `RocksDbConfig`, `RedisConfig`, each behind the
//!   cargo feature of its backend) make a [`Config`] that is checked and
//!   opened exactly as the same settings read from a file.
//! - Custom backends: implement [`StorageBackend`], register it in a
//!   [`BackendRegistry`] by name, select it from the file like a built-in.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> tq_facade::Result<()> {
//! use tq_facade::serde_json::json;
//! use tq_facade::{Config, MemoryConfig, Row, Tensor, TransferQueue, tag};
//!
//! let tq = TransferQueue::open(Config::memory(MemoryConfig::new().with_capacity_bytes(1 << 30))).await?;
//! let row = Row::new().with("logprobs", Tensor::from_vec(vec![-0.5f32, -1.25], [2])?);
//! tq.kv_put("s0", "train", Some(row), Some(tag!({"status": "new", "steps": [1, 2]}))).await?;
//!
//! let got = tq.kv_batch_get(&["s0"], "train", None).await?;
//! let logprobs = got.tensor("logprobs").unwrap().row(0).unwrap();
//! assert_eq!(&*logprobs.to_cow::<f32>()?, &[-0.5, -1.25]);
//! let listing = tq.kv_list(Some("train")).await?;
//! assert_eq!(listing["train"]["s0"]["steps"], json!([1, 2]));
//! # Ok(()) }
//! ```
//!
//! The types of the data model are re-exported from `tq-core`, and so are
//! the crates that public signatures name (`serde`, `serde_json`, `toml`,
//! `indexmap`) and, under [`backends`], the built-in backend crates, so this
//! crate is the only one an application needs.
#![deny(missing_docs)]

pub mod blocking;
mod builtin;
mod checkpoint_methods;
mod checkpoint_settings;
mod config;
mod queue;
mod registry;
mod update_settings;
mod wait_settings;

pub use checkpoint_settings::CheckpointSettings;
pub use config::{Config, DEFAULT_BACKEND, ENV_BACKEND, ENV_CONFIG};
/// The futures crate of [`WatchStream`] (a `futures::Stream`: read it with
/// `tq_facade::futures::StreamExt::next`).
pub use futures;
pub use queue::TransferQueue;
pub use registry::{BackendFactory, BackendRegistry};
/// The serde crate of [`BackendRegistry::register_typed`]'s and
/// [`Config::with_typed_settings`]' bounds; derive with
/// `#[serde(crate = "tq_facade::serde")]` to need no dependency of your own.
pub use serde;
/// The TOML crate of [`Config::with_settings`], [`Config::settings`] and
/// [`BackendFactory`] (settings tables are [`toml::Table`]).
pub use toml;
/// Checkpoints on object storage (`TransferQueue::save_checkpoint`,
/// `load_checkpoint`): the tq-checkpoint crate.
pub use tq_checkpoint as checkpoint;
pub use tq_checkpoint::{LoadOptions, Manifest, SaveOptions};
/// The core crate, for what the re-exports above leave out (codec, names).
pub use tq_core as core;
/// The map crate of [`Listing`] (re-exported by `tq-core`).
pub use tq_core::indexmap;
/// The JSON crate of [`Tag`] and JSON cells (re-exported by `tq-core`).
pub use tq_core::serde_json;

/// The typed settings of the in-memory backend (cargo feature `memory`).
#[cfg(feature = "memory")]
pub use tq_backend_memory::MemoryConfig;
/// The typed settings of the Redis backend (cargo feature `redis`).
#[cfg(feature = "redis")]
pub use tq_backend_redis::RedisConfig;
/// The typed settings of the RocksDB backend (cargo feature `rocksdb`);
/// its `Compression` is in [`backends::rocksdb`].
#[cfg(feature = "rocksdb")]
pub use tq_backend_rocksdb::RocksDbConfig;

/// The built-in backend crates, each behind the cargo feature of its name:
/// their typed settings with everything those name, and the backends
/// themselves (to open one in code and wrap it with
/// [`TransferQueue::from_backend`]).
pub mod backends {
    /// The in-memory backend, `tq-backend-memory` (cargo feature `memory`).
    #[cfg(feature = "memory")]
    pub use tq_backend_memory as memory;
    /// The Redis backend, `tq-backend-redis` (cargo feature `redis`).
    #[cfg(feature = "redis")]
    pub use tq_backend_redis as redis;
    /// The RocksDB backend, `tq-backend-rocksdb` (cargo feature `rocksdb`).
    #[cfg(feature = "rocksdb")]
    pub use tq_backend_rocksdb as rocksdb;
}
pub use tq_core::{
    Batch, Bytes, Capabilities, CellWrite, Cells, Column, ConditionalBackend, CurrentRow, DType,
    Element, Error, ErrorKind, FieldNames, KvApi, KvBatchMeta, KvStore, Listing, MergeFn,
    NonTensor, Notifications, PutIfOutcome, Result, Row, RowChange, RowState, RowVersion, RowWrite,
    StorageBackend, Tag, Tensor, TensorColumn, UpdatePolicy, Value, VersionedRow, WatchBackend,
    WatchEvent, WatchHub, WatchLayer, WatchStream, async_trait, merge_tag, tag,
};
