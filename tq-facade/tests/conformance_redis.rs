//! The conformance suite through the facade with `backend = "redis"`, against
//! a standalone server and a 3-master Redis Cluster: a TOML config selects
//! the Redis backend, whose `[redis]` table the registry deserializes into
//! `tq_backend_redis::RedisConfig`.
//!
//! The servers are `tq_backend_redis::testing`'s: started on first use on
//! random 127.0.0.1 ports, shared by the cases of this process (each case
//! under its own key prefix, so it sees an empty store), killed when the
//! process ends. A missing `redis-server` fails every case with the install
//! hint; nothing is skipped.
#![cfg(feature = "redis")]

use std::sync::OnceLock;

use tq_backend_redis::testing::{RedisCluster, RedisServer, unique_prefix};
use tq_facade::core::conformance::Fixture;
use tq_facade::{Config, Error, ErrorKind, Result, TransferQueue};

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

async fn open(redis_table: String) -> Result<Fixture> {
    let toml = format!(
        "backend = \"redis\"\n[redis]\n{redis_table}key_prefix = \"{}\"\n",
        unique_prefix("facade")
    );
    Ok(Fixture::new(
        TransferQueue::open(Config::from_toml_str(&toml)?).await?,
    ))
}

mod standalone {
    use super::*;

    tq_facade::core::conformance_tests!(|| async {
        open(format!("url = \"{}\"\n", server()?.url())).await
    });
}

mod cluster {
    use super::*;

    tq_facade::core::conformance_tests!(|| async {
        let nodes: Vec<String> = cluster()?.urls().iter().map(|u| format!("{u:?}")).collect();
        open(format!("cluster_nodes = [{}]\n", nodes.join(", "))).await
    });
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
