//! Shared test support: one standalone server and one 3-master cluster per
//! test process, started on first use (synchronously, so no Tokio runtime
//! owns them) and killed when the process ends (see `tq_test_support`).
//! Each case gets its own key prefix, so it sees an empty store.
//! [`corrupt`] damages stored rows behind the backend's back; [`slots`]
//! moves a cluster's hash slots.
#![allow(dead_code)]

pub mod children;
pub mod corrupt;
pub mod slots;

use std::sync::OnceLock;

use tq_backend_redis::{RedisBackend, RedisConfig};
use tq_core::{Error, Result};
use tq_test_support::{RedisCluster, RedisServer, unique_prefix};

fn setup_error(what: &str, e: &str) -> Error {
    Error::config(format!("cannot start the test {what}: {e}"))
}

/// The process's standalone server.
pub fn server() -> Result<&'static RedisServer> {
    static SERVER: OnceLock<std::result::Result<RedisServer, String>> = OnceLock::new();
    SERVER
        .get_or_init(RedisServer::start)
        .as_ref()
        .map_err(|e| setup_error("redis-server", e))
}

/// The process's 3-master cluster.
pub fn cluster() -> Result<&'static RedisCluster> {
    static CLUSTER: OnceLock<std::result::Result<RedisCluster, String>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| RedisCluster::start(3))
        .as_ref()
        .map_err(|e| setup_error("Redis Cluster", e))
}

/// A config for a fresh, empty store on the standalone server.
pub fn standalone_config() -> Result<RedisConfig> {
    Ok(RedisConfig::standalone(server()?.url()).with_key_prefix(unique_prefix("t")))
}

/// A config for a fresh, empty store on the cluster.
pub fn cluster_config() -> Result<RedisConfig> {
    Ok(RedisConfig::cluster(cluster()?.urls()).with_key_prefix(unique_prefix("t")))
}

/// A fresh standalone store.
pub async fn standalone() -> Result<RedisBackend> {
    RedisBackend::open(standalone_config()?).await
}

/// A fresh cluster store.
pub async fn clustered() -> Result<RedisBackend> {
    RedisBackend::open(cluster_config()?).await
}

/// Every Redis key of `backend`'s store on a node (SCAN through redis-cli).
pub fn keys_on(port: u16, backend: &RedisBackend) -> Vec<String> {
    let pattern = backend.layout().scan_pattern();
    tq_test_support::redis_cli(port, &["--scan", "--pattern", &pattern])
        .unwrap_or_else(|e| panic!("{e}"))
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

/// A conformance fixture over a fresh store of `config`.
pub async fn fixture(config: RedisConfig) -> Result<tq_core::conformance::Fixture> {
    let backend = RedisBackend::open(config.clone()).await?;
    Ok(with_hooks(
        tq_core::conformance::Fixture::from_backend(backend),
        config,
    ))
}

/// The suite's hooks for a store of `config`: corruption through a fresh
/// connection ([`corrupt::corrupt_row`]), reopen as a new backend on the same
/// server and key prefix, and no capacity setting of our own (the server's
/// `maxmemory` is not one).
pub fn with_hooks(
    fixture: tq_core::conformance::Fixture,
    config: RedisConfig,
) -> tq_core::conformance::Fixture {
    let corrupt_config = config.clone();
    let claims = tq_core::Capabilities::new()
        .with_persistent(true)
        .with_shared_across_processes(true)
        // The test servers run with Redis' default proto-max-bulk-len.
        .with_max_value_bytes(Some(tq_backend_redis::FALLBACK_MAX_BULK))
        .with_conditional_write(true)
        .with_notifications(tq_core::Notifications::CrossProcess);
    fixture
        .claims(claims)
        .with_corruptor(move |partition, key, what| {
            let config = corrupt_config.clone();
            async move {
                corrupt::corrupt_row(&config, &partition, &key, what.into())
                    .await
                    .map_err(Error::unexpected)
            }
        })
        .with_reopen(move || {
            let config = config.clone();
            async move {
                let backend = RedisBackend::open(config.clone()).await?;
                Ok(with_hooks(
                    tq_core::conformance::Fixture::from_backend(backend),
                    config,
                ))
            }
        })
        .without_capacity_limit()
}
