//! tq-core's conformance suite against a standalone `redis-server`.

mod support;

tq_core::conformance_tests!(|| async { support::fixture(support::standalone_config()?).await });
