//! The conformance suite through the facade with `backend = "redis"`, against
//! a standalone server and a 3-master Redis Cluster: a TOML config selects
//! the Redis backend, whose `[redis]` table the registry deserializes into
//! `tq_backend_redis::RedisConfig`.
//!
//! The servers are `tq_test_support`'s: started on first use on random
//! 127.0.0.1 ports, shared by the cases of this process (each case under
//! its own key prefix, so it sees an empty store), killed when the process
//! ends. A missing `redis-server` fails every case with the install hint;
//! nothing is skipped.
#![cfg(feature = "redis")]

/// The Redis backend's tests' corruption hook, one copy for both crates.
#[path = "../../tq-backend-redis/tests/support/corrupt.rs"]
mod corrupt;

use std::sync::OnceLock;

use corrupt::corrupt_row;
use tq_backend_redis::{FALLBACK_MAX_BULK, RedisConfig};
use tq_facade::core::conformance::Fixture;
use tq_facade::{BackendRegistry, Capabilities, Config, Error, ErrorKind, Result, TransferQueue};
use tq_test_support::{RedisCluster, RedisServer, unique_prefix};

fn started<T>(
    cell: &'static OnceLock<std::result::Result<T, String>>,
    start: fn() -> std::result::Result<T, String>,
) -> Result<&'static T> {
    cell.get_or_init(start)
        .as_ref()
        .map_err(|e| Error::config(format!("cannot start the test Redis: {e}")))
}

fn server() -> Result<&'static RedisServer> {
    static SERVER: OnceLock<std::result::Result<RedisServer, String>> = OnceLock::new();
    started(&SERVER, RedisServer::start)
}

fn cluster() -> Result<&'static RedisCluster> {
    static CLUSTER: OnceLock<std::result::Result<RedisCluster, String>> = OnceLock::new();
    started(&CLUSTER, || RedisCluster::start(3))
}

/// The same store as a `RedisConfig`, for the corruption hook's own
/// connection.
fn as_config(servers: &[String], prefix: &str) -> RedisConfig {
    let config = match servers {
        [url] => RedisConfig::standalone(url.clone()),
        nodes => RedisConfig::cluster(nodes.to_vec()),
    };
    config.with_key_prefix(prefix)
}

/// Opens the store `toml` describes through the registry, under the facade,
/// with the suite's hooks.
async fn open(toml: String, redis: RedisConfig) -> Result<Fixture> {
    let backend = BackendRegistry::default()
        .open(&Config::from_toml_str(&toml)?)
        .await?;
    let fixture = Fixture::wrapping(backend, |b| {
        Ok(TransferQueue::from_backend(b).store().clone())
    })?;
    Ok(with_hooks(fixture, toml, redis))
}

/// The suite's hooks: what the Redis backend documents, corruption through
/// a connection of its own, reopen through the registry again.
fn with_hooks(fixture: Fixture, toml: String, redis: RedisConfig) -> Fixture {
    let claims = Capabilities::new()
        .with_persistent(true)
        .with_shared_across_processes(true)
        .with_max_value_bytes(Some(FALLBACK_MAX_BULK))
        .with_conditional_write(true)
        .with_notifications(tq_facade::Notifications::CrossProcess);
    let corrupt_config = redis.clone();
    fixture
        .claims(claims)
        .with_corruptor(move |partition, key, what| {
            let config = corrupt_config.clone();
            async move {
                corrupt_row(&config, &partition, &key, what.into())
                    .await
                    .map_err(Error::unexpected)
            }
        })
        .with_reopen(move || {
            let (toml, redis) = (toml.clone(), redis.clone());
            async move {
                let backend = BackendRegistry::default()
                    .open(&Config::from_toml_str(&toml)?)
                    .await?;
                let fixture = Fixture::wrapping(backend, |b| {
                    Ok(TransferQueue::from_backend(b).store().clone())
                })?;
                Ok(with_hooks(fixture, toml, redis))
            }
        })
        .without_capacity_limit()
}

/// A fresh store (its own key prefix) on `servers`.
async fn fresh(servers: Vec<String>) -> Result<Fixture> {
    let prefix = unique_prefix("facade");
    let setting = match servers.as_slice() {
        [url] => format!("url = {url:?}\n"),
        nodes => format!("cluster_nodes = {nodes:?}\n"),
    };
    let toml = format!("backend = \"redis\"\n[redis]\n{setting}key_prefix = \"{prefix}\"\n");
    open(toml, as_config(&servers, &prefix)).await
}

mod standalone {
    use super::*;

    tq_facade::core::conformance_tests!(|| async { fresh(vec![server()?.url()]).await });
}

mod cluster {
    use super::*;

    tq_facade::core::conformance_tests!(|| async { fresh(cluster()?.urls().to_vec()).await });
}

#[test]
fn unknown_redis_setting_is_a_config_error_naming_it() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let toml = "backend = \"redis\"\n[redis]\nurl = \"redis://127.0.0.1:1\"\npasword = \"x\"\n";
    let err = runtime
        .block_on(async { TransferQueue::open(Config::from_toml_str(toml)?).await })
        .expect_err("an unknown setting must fail");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("pasword"), "{err}");
}
