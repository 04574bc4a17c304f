//! # tq-bench
//!
//! Benchmarks of tq-rs: the `perftest` binary (a Rust mirror of the Python
//! TransferQueue perftest, with raw baselines measured in the same run) and
//! criterion suites in `benches/`. See `BENCHMARKS.md` at the repository root.
//!
//! The library holds the workload logic so that a test can run it on a tiny
//! shape: [`run::run`] with [`run::Options`].

pub mod baseline;
mod batch;
pub mod checkpoint;
pub mod checkpoint_mem;
pub mod churn;
pub mod data;
#[cfg(feature = "redis")]
pub mod engine;
#[cfg(feature = "redis")]
pub mod engine_run;
pub mod mem;
#[cfg(feature = "redis")]
pub mod memory_child;
#[cfg(feature = "redis")]
pub mod memory_probe;
pub mod open;
#[cfg(feature = "redis")]
pub mod redis_nodes;
pub mod report;
pub mod run;
pub mod server_work;
mod small;
pub mod wake;
#[cfg(feature = "redis")]
pub mod wake_child;
pub mod workload;

pub use data::{Payload, Shape};
pub use open::BackendSpec;
pub use report::Report;
pub use run::{Options, run};
