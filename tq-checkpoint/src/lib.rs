//! # tq-checkpoint
//!
//! Checkpoints of a tq-rs store on object storage ([`object_store`]):
//! [`save`] writes partitions as data objects and a `manifest.json` written
//! last; [`load`] verifies every object's size and CRC-32C, and every row,
//! before it writes anything into the target store, of any backend.
//!
//! The format is versioned and documented in the repository's
//! `docs/CHECKPOINT_FORMAT.md`; what is built and what is left is in this
//! crate's `DESIGN.md`.
//!
//! ```
//! # async fn demo(store: tq_core::KvStore, other: tq_core::KvStore) -> tq_core::Result<()> {
//! use std::sync::Arc;
//! use tq_checkpoint::{LoadOptions, Location};
//!
//! let bucket = Arc::new(object_store::memory::InMemory::new());
//! let at = Location::new(bucket, "ckpt/step-100".into());
//! let manifest = tq_checkpoint::save(&store, &at, Some(&["train"])).await?;
//! tq_checkpoint::load(&other, &at, &LoadOptions::default()).await?;
//! # let _ = manifest; Ok(()) }
//! ```
#![deny(missing_docs)]

mod chunks;
mod consistency;
mod file_stream;
mod load;
mod location;
mod manifest;
mod object_reader;
mod object_writer;
mod options;
mod record;
mod save;
mod store_error;
mod validate;

pub use load::{load, read_manifest};
pub use location::{Location, is_store_setting};
pub use manifest::{
    FORMAT_NAME, FORMAT_VERSION, MANIFEST_NAME, Manifest, ObjectEntry, PartitionEntry,
};
pub use object_store;
pub use options::{LoadOptions, SaveOptions};
pub use save::{save, save_with};
