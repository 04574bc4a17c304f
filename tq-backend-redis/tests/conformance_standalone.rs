//! tq-core's conformance suite against a standalone `redis-server`.

mod support;

use tq_core::conformance::Fixture;

tq_core::conformance_tests!(|| async { Ok(Fixture::from_backend(support::standalone().await?)) });
