//! # tq-backend-memory
//!
//! The embedded, in-process default backend of tq-rs: what the facade opens
//! when there is no configuration at all.
//!
//! - **Zero copy.** A put stores the `Bytes` it is given: rows of a dense
//!   column are slices of the caller's buffer. The flip side: one stored row
//!   keeps the caller's whole buffer alive until every row sliced from it is
//!   cleared or replaced.
//! - **No global lock on the data path.** Each partition has 16 shards, each
//!   behind its own mutex; a call locks only the shards its keys hash to (in
//!   shard order, so calls never deadlock). The partition map's lock is held
//!   only to look a partition up or to add or drop one.
//! - **Atomic calls.** Holding every touched shard for the whole call makes
//!   each put and clear atomic with respect to every other call on the same
//!   partition ([`Capabilities::atomic_batch`](tq_core::Capabilities)).
//! - **Capacity.** With [`MemoryConfig::capacity_bytes`] set, a put that would
//!   push the stored payload bytes past the limit fails with
//!   `CapacityExceeded` and writes nothing. Payload bytes are tensor bytes,
//!   string and raw-byte lengths, and the serialized length of JSON values;
//!   keys, field names, tags and bookkeeping are not counted.
//! - **Partitions** disappear when their last key is cleared.
#![deny(missing_docs)]

mod backend;
mod config;
mod partition;

pub use backend::MemoryBackend;
pub use config::MemoryConfig;
