//! Damages a stored row behind the backend's back, as an operator with
//! `redis-cli` could, for tests of how the backend treats corrupted data:
//! [`corrupt_row`]. Written against the public key layout
//! (`tq_backend_redis::keys`) and redis-rs, through a connection of its
//! own.
//!
//! One copy, shared by this crate's tests (`mod support`) and the facade's
//! Redis conformance test (which includes this file by path).
#![allow(dead_code)]

use redis::IntoConnectionInfo;
use redis::aio::MultiplexedConnection;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use tq_backend_redis::RedisConfig;
use tq_backend_redis::keys::{CELL_KEY_MARK, CELL_MARK, KeyLayout, SEQ_FIELD, TAG_MARK, tag_field};

/// What [`corrupt_row`] damages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// Every stored cell value of the row is overwritten with bytes that
    /// do not decode (not tq-core's codec layout), in the hash or under
    /// the cell's own key.
    Cells,
    /// Every stored tag entry of the row is overwritten with bytes that do
    /// not parse as JSON; a row without tag entries gets one such entry.
    Tag,
}

impl From<tq_core::conformance::Corruption> for Corruption {
    /// The conformance suite's request: `Tag` is a tag, the rest cells.
    fn from(what: tq_core::conformance::Corruption) -> Self {
        match what {
            tq_core::conformance::Corruption::Tag => Corruption::Tag,
            _ => Corruption::Cells,
        }
    }
}

/// The bytes [`corrupt_row`] writes over a cell: a codec version no build
/// reads, and too short for a header.
pub const CORRUPT_CELL: &[u8] = b"\xffcorrupt";
/// The bytes [`corrupt_row`] writes over a tag entry: not JSON.
pub const CORRUPT_TAG: &[u8] = b"{not json";
/// The tag entry [`corrupt_row`] adds to a row that has none.
pub const CORRUPT_TAG_ENTRY: &str = "tq-corrupted";

/// A connection to the store's standalone server or cluster.
enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Conn {
    /// Connects as `config` says: its `url` or `cluster_nodes`, with its
    /// `username` and `password` overriding the URLs'. Plain TCP only (the
    /// test servers the corruption tests use); a `tls_ca_file` is refused.
    async fn open(config: &RedisConfig) -> Result<Conn, String> {
        config.validate().map_err(|e| e.to_string())?;
        if config.tls_ca_file.is_some() {
            return Err("corrupt_row does not speak TLS with a tls_ca_file".into());
        }
        let failed = |e: redis::RedisError| format!("corrupt_row cannot connect: {e}");
        if let Some(url) = &config.url {
            let mut info = url.as_str().into_connection_info().map_err(failed)?;
            let mut settings = info.redis_settings().clone();
            if let Some(user) = &config.username {
                settings = settings.set_username(user);
            }
            if let Some(pw) = &config.password {
                settings = settings.set_password(pw);
            }
            info = info.set_redis_settings(settings);
            let client = redis::Client::open(info).map_err(failed)?;
            let conn = client
                .get_multiplexed_async_connection()
                .await
                .map_err(failed)?;
            Ok(Conn::Single(conn))
        } else {
            let mut builder =
                ClusterClientBuilder::new(config.cluster_nodes.iter().map(String::as_str));
            if let Some(user) = &config.username {
                builder = builder.username(user);
            }
            if let Some(pw) = &config.password {
                builder = builder.password(pw);
            }
            let client = builder.build().map_err(failed)?;
            Ok(Conn::Cluster(
                client.get_async_connection().await.map_err(failed)?,
            ))
        }
    }

    async fn query<T: redis::FromRedisValue>(&mut self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        match self {
            Conn::Single(c) => cmd.query_async(c).await,
            Conn::Cluster(c) => cmd.query_async(c).await,
        }
    }
}

/// Damages the stored row `key` of `partition` in the store `config`
/// names, behind the backend's back, through a fresh connection: see
/// [`Corruption`]. The row must exist.
pub async fn corrupt_row(
    config: &RedisConfig,
    partition: &str,
    key: &str,
    what: Corruption,
) -> Result<(), String> {
    let mut conn = Conn::open(config).await?;
    let layout = KeyLayout::new(&config.key_prefix, config.effective_buckets());
    let bucket = layout.bucket(partition, key);
    let row = layout.row(bucket, partition, key);
    let redis_err = |e: redis::RedisError| {
        format!("cannot corrupt row {key:?} of partition {partition:?}: {e}")
    };
    let names: Vec<Vec<u8>> = conn
        .query(redis::cmd("HKEYS").arg(&row))
        .await
        .map_err(redis_err)?;
    if !names.iter().any(|n| n.as_slice() == SEQ_FIELD) {
        return Err(format!(
            "row {key:?} of partition {partition:?} does not exist"
        ));
    }
    let (mark, garbage) = match what {
        Corruption::Cells => (CELL_MARK, CORRUPT_CELL),
        Corruption::Tag => (TAG_MARK, CORRUPT_TAG),
    };
    // Cells under keys of their own: the key's value is the cell.
    let mut keyed = 0;
    if what == Corruption::Cells {
        for name in names.iter().filter(|n| n.first() == Some(&CELL_KEY_MARK)) {
            let field = String::from_utf8_lossy(&name[1..]);
            let cell_key = layout.cell(bucket, partition, key, &field);
            conn.query::<()>(redis::cmd("SET").arg(cell_key).arg(garbage))
                .await
                .map_err(redis_err)?;
            keyed += 1;
        }
    }
    let mut targets: Vec<Vec<u8>> = names
        .into_iter()
        .filter(|n| n.first() == Some(&mark))
        .collect();
    if targets.is_empty() && keyed > 0 {
        return Ok(());
    }
    if targets.is_empty() {
        match what {
            Corruption::Cells => {
                return Err(format!(
                    "row {key:?} of partition {partition:?} has no cells to corrupt"
                ));
            }
            Corruption::Tag => targets.push(tag_field(CORRUPT_TAG_ENTRY)),
        }
    }
    let mut hset = redis::cmd("HSET");
    hset.arg(&row);
    for name in &targets {
        hset.arg(name).arg(garbage);
    }
    conn.query::<()>(&hset).await.map_err(redis_err)?;
    Ok(())
}
