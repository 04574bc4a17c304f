//! tq-core's conformance suite against a 3-master Redis Cluster.

mod support;

tq_core::conformance_tests!(|| async { support::fixture(support::cluster_config()?).await });
