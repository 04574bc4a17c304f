//! A throwaway Redis Cluster on 127.0.0.1 ([`RedisCluster`]).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::server::{INSTALL_HINT, RedisServer};

/// A Redis Cluster of masters without replicas on 127.0.0.1; every node is
/// killed when dropped.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `masters` nodes (at least 3), joins them with
    /// `redis-cli --cluster create`, and waits until every node reports
    /// `cluster_state:ok`.
    pub fn start(masters: usize) -> Result<Self, String> {
        Self::start_with(masters, &[])
    }

    /// As [`start`](Self::start), with extra `redis-server` arguments for
    /// every node, e.g. `["--maxmemory-policy", "allkeys-lru"]`.
    pub fn start_with(masters: usize, extra: &[&str]) -> Result<Self, String> {
        let mut nodes = Vec::with_capacity(masters);
        for _ in 0..masters {
            let mut args = vec![
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "5000",
            ];
            args.extend_from_slice(extra);
            nodes.push(RedisServer::start_with(&args)?);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let mut args: Vec<&str> = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        let out = Command::new("redis-cli")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run redis-cli: {e}: {INSTALL_HINT}"))?;
        if !out.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let cluster = RedisCluster { nodes };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = cluster.nodes.iter().all(|n| {
                n.cli(&["cluster", "info"])
                    .is_ok_and(|s| s.contains("cluster_state:ok"))
            });
            if ok {
                return Ok(cluster);
            }
            if Instant::now() > deadline {
                return Err("the Redis Cluster did not reach cluster_state:ok in 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Every node's `redis://127.0.0.1:<port>`.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}
