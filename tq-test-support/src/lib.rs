//! # tq-test-support
//!
//! Throwaway servers for the tests of tq-rs' backends and for its
//! benchmarks: [`RedisServer`] (a `redis-server` process, plain or TLS),
//! [`RedisCluster`] (masters without replicas joined into a Redis
//! Cluster) and [`TestCa`] (a certificate authority and a server
//! certificate for `127.0.0.1`). Not published; no tq-rs crate depends on it
//! outside tests and `tq-bench`.
//!
//! ```no_run
//! let server = tq_test_support::RedisServer::start()?;
//! let url = server.url(); // redis://127.0.0.1:<random port>
//! assert_eq!(server.cli(&["PING"])?.trim(), "PONG");
//! # Ok::<(), String>(())
//! ```
//!
//! Every server listens on 127.0.0.1 only, on a random free port, with
//! persistence off (`--save "" --appendonly no`), in a temporary directory.
//! It runs under a tiny `sh` watchdog that holds a pipe from the test
//! process: when the guard is dropped, or the test process ends in any way
//! (even without running destructors, as with a `static` server), the pipe
//! closes and the watchdog kills the server. Nothing is left behind.
//!
//! Everything here gives plain data (ports, URLs, file paths) and depends
//! on no tq-rs crate, so a backend can dev-depend on it without a cycle.
//! What needs a backend's own types stays with that backend: the Redis
//! tests' `corrupt_row` (`tq-backend-redis/tests/support/corrupt.rs`, also
//! used by the facade's Redis conformance test) and RocksDB's
//! `corrupt_row_for_tests` (tq-backend-rocksdb's `testing` feature, which
//! needs the open store).
//!
//! # Missing tools fail, never skip
//!
//! A missing `redis-server` or `redis-cli` is an error that says how to
//! install them ([`INSTALL_HINT`]); a missing `openssl` (for [`TestCa`])
//! likewise ([`OPENSSL_HINT`]). Tests should fail with it, never skip.
#![deny(missing_docs)]

mod ca;
mod cluster;
mod server;
mod unique;

pub use ca::{OPENSSL_HINT, TestCa};
pub use cluster::RedisCluster;
pub use server::{INSTALL_HINT, RedisServer, check_installed, redis_cli};
pub use unique::unique_prefix;
