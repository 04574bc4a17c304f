//! tq-core's conformance suite against a 3-master Redis Cluster.

mod support;

use tq_core::conformance::Fixture;

tq_core::conformance_tests!(|| async { Ok(Fixture::from_backend(support::clustered().await?)) });
