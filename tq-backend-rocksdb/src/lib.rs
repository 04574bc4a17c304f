//! # tq-backend-rocksdb
//!
//! A persistent, crash-safe embedded [`StorageBackend`](tq_core::StorageBackend)
//! for tq-rs on [RocksDB](https://rocksdb.org), through the `rocksdb` crate.
//!
//! ```no_run
//! # async fn demo() -> tq_core::Result<()> {
//! use std::sync::Arc;
//! use tq_backend_rocksdb::{RocksDbBackend, RocksDbConfig};
//! use tq_core::{KvStore, Row, Tensor, tag};
//!
//! let backend = RocksDbBackend::open(RocksDbConfig::new("/var/lib/tq/store")).await?;
//! let kv = KvStore::new(Arc::new(backend));
//! let row = Row::new().with("input_ids", Tensor::from_vec(vec![1i64, 2, 3], [3])?);
//! kv.kv_put("sample-0", "train", Some(row), Some(tag! {"status" => "new"})).await?;
//! # Ok(()) }
//! ```
//!
//! ## Settings
//!
//! [`RocksDbConfig`], deserialized by the facade from the `[rocksdb]` table
//! of its TOML file (unknown settings are an error):
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `path` | required | directory of the store |
//! | `create_if_missing` | `true` | create the store (and parent directories) if missing |
//! | `sync_writes` | `true` | `fsync` the write-ahead log before a put or clear returns |
//! | `compression` | `"lz4"` | `"none"`, `"lz4"` or `"zstd"`, for SST and blob files |
//! | `block_cache_bytes` | 64 MiB | shared LRU block cache; `0` turns it off |
//! | `write_buffer_bytes` | 64 MiB | memtable size per column family (there are four), at least 64 KiB |
//! | `max_background_jobs` | 2 | flush and compaction threads, 1 to 256 |
//! | `max_open_files` | `-1` | open file limit; `-1` unlimited, else at least 16 |
//! | `blob_files` | `true` | keep large cell values in blob files, out of compactions |
//! | `blob_min_bytes` | 64 KiB | smallest value that goes to a blob file |
//!
//! A bad value is an [`ErrorKind::Config`](tq_core::ErrorKind::Config) error
//! whose context `setting` names it.
//!
//! **Durability.** Every put and clear is one `WriteBatch` through the
//! write-ahead log. With `sync_writes = true` (the default) the log is
//! `fsync`ed before the call returns, so an acknowledged write survives a
//! power loss. With `false`, an acknowledged write still survives the process
//! being killed, but the last writes before a power loss or kernel crash may
//! be lost. Either way, after any crash each call is wholly present or wholly
//! absent.
//!
//! **Opening a store that is open already** (by another process, or by
//! another `RocksDbBackend` in this process: RocksDB locks the directory) is
//! [`ErrorKind::Unavailable`](tq_core::ErrorKind::Unavailable), marked
//! temporary because the holder may close it, with the path in the message
//! and in the context `path`. A missing store with `create_if_missing =
//! false` is `Config`.
//!
//! ## Capabilities
//!
//! - `persistent`: yes, data survives close and reopen, and crashes.
//! - `atomic_batch`: yes, each put or clear call is one `WriteBatch`; gets
//!   and lists read one snapshot, so they see all of a call or none of it.
//! - `shared_across_processes`: no, RocksDB admits one process per store.
//! - `zero_copy_put`: no, values are encoded and copied into the batch.
//! - `max_value_bytes`: [`MAX_VALUE_BYTES`] (4 GiB - 1) per encoded cell,
//!   RocksDB's limit; a larger value is `CapacityExceeded`, nothing written.
//!
//! ## Key layout
//!
//! Four column families; names are length-prefixed (`C(x) = u16be(len) ‖ x`),
//! which makes the layout injective for any partition, key and field bytes.
//! See [`keys`] for the details, including the row record format.
//!
//! | column family | key | value |
//! |---|---|---|
//! | `rows` | `C(p) C(k)` | row record: insertion sequence number, field list, tag (JSON) |
//! | `order` | `C(p) u64be(seq)` | the key |
//! | `cells` | `C(p) C(k) C(f)` | the cell value in tq-core's [`codec`](tq_core::codec) |
//! | `default` | `seq_high`, `format` | highest sequence number handed out (max merge operator); layout version |
//!
//! A row exists exactly when its record does. A new row (including a key
//! cleared and put again) gets a fresh sequence number, so `kv_list` reads the
//! `order` entries of a partition in insertion order with one range scan and
//! joins the tags from one scan of `rows`, never touching cell data. The
//! record's field list lets a put return the row's full field list, and a
//! get or clear find the row's cells, without a scan.
//!
//! **Opening the files with other tools** (`ldb`, a raw `rocksdb::DB`):
//! give the `default` column family the merge operator `tq_max_u64`
//! (`u64be` values, the maximum wins; `tests/corruption.rs` has one). Without
//! it RocksDB's write-ahead-log recovery stops at the second merge of
//! `seq_high` it replays, silently drops every later write, and then deletes
//! the log: writes not yet flushed to SST files are lost.
//!
//! ## Concurrency
//!
//! - Writers (put, clear) lock the row's stripe of 1024 striped mutexes
//!   (all the stripes of a call's rows, in ascending order, so calls never
//!   deadlock), read the row records, build one `WriteBatch` with the cells,
//!   merged records, order entries and sequence high-water mark, write it,
//!   and unlock. Two writers of one row never interleave read and write, so
//!   concurrent puts lose no cell and no tag entry (tags are shallow-merged
//!   in the record under the lock: SPEC X1, X2), and a put racing a clear
//!   either sees the row before the clear or starts from an empty row (X3).
//!   Cell values are encoded before the locks are taken.
//! - Readers (get, list) take no lock: they read one RocksDB snapshot.
//! - RocksDB admits one process per store, so in-process locks suffice.
//! - Sequence numbers come from an in-memory counter, seeded at open from
//!   the `seq_high` key that every batch creating rows raises with a `max`
//!   merge operand (a merge, so concurrent batches never lower it).
//! - Every RocksDB call, opening included, runs on Tokio's blocking pool
//!   (`spawn_blocking`): executor threads never block. Calling the backend
//!   outside a Tokio runtime is an `Unsupported` error, not a panic. A call
//!   whose future is dropped may still complete.
//!
//! ## Errors
//!
//! Bytes that fail to decode (a cell, a row record, an order entry) are
//! [`ErrorKind::Corrupted`](tq_core::ErrorKind::Corrupted) naming the
//! partition, key and field; "Damaged rows" below says what each call does
//! with such a row. RocksDB statuses map as follows:
//!
//! | RocksDB status | kind | `is_temporary()` |
//! |---|---|---|
//! | `Corruption` | `Corrupted` | no |
//! | `Busy`, `TryAgain`, `TimedOut`, `Incomplete`, `Aborted`, `Expired` | `Unavailable` | yes |
//! | `ShutdownInProgress` | `Unavailable` | no |
//! | I/O error (disk full, permissions, failing disk), anything else | `Unexpected` | no |
//!
//! Backend-level checks: names over tq-core's limits, a key repeated in
//! one put, or a tag or JSON cell nested deeper than
//! [`tq_core::json::MAX_JSON_DEPTH`] (64 levels, the tag object counting as
//! one) are `InvalidArgument`; an encoded value over [`MAX_VALUE_BYTES`] is
//! `CapacityExceeded`; all before anything is written. `KvStore` checks the
//! nesting too, but the backend can be called directly, and a deeper value
//! would be stored and then never parse again (serde_json's parser stops at
//! 128 levels): so everything a put writes reads back. The check runs first,
//! without recursion, and a put's values are always dropped with loops, so
//! no depth overflows a stack.
//!
//! ## Damaged rows
//!
//! Bytes of one row that do not decode (its record, the tag inside it, any
//! cell: garbage, truncated, a version this build does not read, a tag
//! nested too deep for the JSON parser by an older build) are contained to
//! that row:
//!
//! | call | on the damaged row |
//! |---|---|
//! | get of the row | `Corrupted` naming partition and key (and field, for a cell); a get checks the tag too, though it does not return it |
//! | get of other rows, list of other partitions | unaffected |
//! | list of the row's partition, or of the whole store | `Corrupted` naming partition and key if the record or its tag does not decode; damaged cells do not matter to a list |
//! | put into the row | `Corrupted` naming partition and key if the record or its tag does not decode (the put must return the merged tag); a put replacing damaged cells works |
//! | clear of the row | works: returns 1, removes the record, every cell and the insertion-order entry |
//!
//! A listing of the partition fails rather than leave the row out: a
//! listing that silently skipped a row would hide it from the caller, who
//! could then never clear it; the error names the key to clear. After the
//! clear the partition lists again and the key can be put anew.
//!
//! A clear needs only the record's head (sequence number and field list),
//! which decodes without the tag ([`keys`] has the format), and it checks
//! that the insertion-order entry the head names does name the key. A row
//! whose head does not decode, or names another row's entry, is removed
//! without trusting its record: one scan of the partition's insertion-order
//! entries (once per call) finds those naming the key, and one range
//! deletion removes every cell under the row's key prefix; still one
//! `WriteBatch` under the rows' locks.
//!
//! ## Test support
//!
//! The cargo feature `testing` adds
//! `RocksDbBackend::corrupt_row_for_tests`, which damages a row of an
//! open store as the conformance suite's corruption hook asks
//! (`tests/conformance.rs` shows the whole fixture: corruption, reopen, no
//! capacity limit). It turns on tq-core's `conformance` feature.
//!
//! ## Building
//!
//! The first build compiles RocksDB itself (C++, via `librocksdb-sys`):
//! on this 2-core machine (shared with other builds) the first
//! `cargo build -p tq-backend-rocksdb --tests` took 10 min 41 s of wall time
//! (14 min user CPU), nearly all of it in `librocksdb-sys`; later builds reuse it.
//! `clang`/`libclang-dev` must be installed for the bindings.

#![deny(missing_docs)]

mod backend;
mod config;
mod error;
pub mod keys;
mod locks;
mod nesting;
mod record;
mod store;

pub use backend::RocksDbBackend;
pub use config::{Compression, RocksDbConfig};
pub use store::MAX_VALUE_BYTES;
