//! The conformance suite through the facade with `backend = "rocksdb"`: a
//! TOML config selects the RocksDB backend, whose `[rocksdb]` table the
//! registry deserializes into `tq_backend_rocksdb::RocksDbConfig`. Each case
//! gets a fresh store in its own temporary directory.
//!
//! Needs the facade's `rocksdb` feature (compiling RocksDB takes minutes):
//! `cargo test -p tq-facade --features rocksdb --test conformance_rocksdb`.
#![cfg(feature = "rocksdb")]

use tq_facade::core::conformance::Fixture;
use tq_facade::{Config, Error, TransferQueue};

tq_facade::core::conformance_tests!(|| async {
    let dir = tempfile::tempdir().map_err(|e| Error::unexpected(e.to_string()))?;
    let path = dir
        .path()
        .to_str()
        .ok_or_else(|| Error::unexpected("the temporary directory is not UTF-8"))?;
    // A TOML string literal, escaped by the toml crate.
    let path = toml::Value::String(path.to_owned());
    let toml = format!("backend = \"rocksdb\"\n[rocksdb]\npath = {path}\n");
    Ok(Fixture::new(TransferQueue::open(Config::from_toml_str(&toml)?).await?).with_guard(dir))
});
