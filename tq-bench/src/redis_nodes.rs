//! The Redis servers a run measures: a standalone server or the masters of
//! a cluster, each by URL, with (for a cluster) a hash tag per master whose
//! keys that master serves, so that `redis-benchmark` keys stay on it. Also
//! their `used_memory` (INFO memory) and the removal of benchmark keys.

use std::time::Duration;

use redis::aio::MultiplexedConnection;

/// Redis Cluster hash slots.
const SLOTS: u16 = 16_384;

/// One Redis server: a standalone server, or one master of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `redis://host:port[/...]`.
    pub url: String,
    /// Cluster only: a hash tag whose slot this master serves (keys
    /// `key:{<tag>}:...` land on it).
    pub tag: Option<String>,
}

/// The servers behind one Redis store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisTarget {
    /// The standalone server, or every master of the cluster.
    pub nodes: Vec<Node>,
    /// Whether `nodes` are the masters of a cluster.
    pub cluster: bool,
}

impl RedisTarget {
    /// A standalone server at `url`.
    pub fn standalone(url: &str) -> Self {
        RedisTarget {
            nodes: vec![Node {
                url: url.to_owned(),
                tag: None,
            }],
            cluster: false,
        }
    }

    /// The masters at `urls` of one cluster; asks each which slots it
    /// serves (`CLUSTER NODES`) and picks a hash tag in them.
    pub async fn cluster(urls: &[String]) -> Result<Self, String> {
        let mut nodes = Vec::with_capacity(urls.len());
        for url in urls {
            let mut con = connect(url).await?;
            let text: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query_async(&mut con)
                .await
                .map_err(|e| format!("CLUSTER NODES on {url}: {e}"))?;
            let ranges = own_slots(&text);
            let tag = tag_in(&ranges)
                .ok_or_else(|| format!("{url} serves no hash slot (CLUSTER NODES: {text:?})"))?;
            nodes.push(Node {
                url: url.clone(),
                tag: Some(tag),
            });
        }
        if nodes.is_empty() {
            return Err("a cluster of no masters".into());
        }
        Ok(RedisTarget {
            nodes,
            cluster: true,
        })
    }

    /// Checks that every node answers `PING` (redis-benchmark spins
    /// instead of failing when it cannot connect).
    pub async fn ping(&self) -> Result<(), String> {
        for node in &self.nodes {
            let mut con = connect(&node.url).await?;
            redis::cmd("PING")
                .query_async::<()>(&mut con)
                .await
                .map_err(|e| format!("PING {}: {e}", node.url))?;
        }
        Ok(())
    }

    /// The sum over the nodes of `used_memory` from `INFO memory`: the
    /// bytes the servers' allocator has handed out.
    pub async fn used_memory(&self) -> Result<u64, String> {
        let mut sum = 0;
        for node in &self.nodes {
            let mut con = connect(&node.url).await?;
            let info: String = redis::cmd("INFO")
                .arg("memory")
                .query_async(&mut con)
                .await
                .map_err(|e| format!("INFO memory on {}: {e}", node.url))?;
            sum += parse_used_memory(&info)
                .ok_or_else(|| format!("INFO memory on {} has no used_memory", node.url))?;
        }
        Ok(sum)
    }

    /// The nodes' CPU time and per-command time so far, summed
    /// (`INFO cpu`, `INFO commandstats`).
    pub async fn counters(&self) -> Result<crate::server_work::ServerCounters, String> {
        let mut sum = crate::server_work::ServerCounters::default();
        for node in &self.nodes {
            let mut con = connect(&node.url).await?;
            let mut info = async |section: &str| -> Result<String, String> {
                redis::cmd("INFO")
                    .arg(section)
                    .query_async(&mut con)
                    .await
                    .map_err(|e| format!("INFO {section} on {}: {e}", node.url))
            };
            let cpu = info("cpu").await?;
            let stats = info("commandstats").await?;
            sum.add_info(&cpu, &stats)
                .map_err(|e| format!("{}: {e}", node.url))?;
        }
        Ok(sum)
    }

    /// Removes (`UNLINK`) every key matching `pattern` on every node;
    /// returns how many.
    pub async fn unlink_matching(&self, pattern: &str) -> Result<u64, String> {
        let mut removed = 0u64;
        for node in &self.nodes {
            let mut con = connect(&node.url).await?;
            let mut cursor = 0u64;
            loop {
                let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut con)
                    .await
                    .map_err(|e| format!("SCAN on {}: {e}", node.url))?;
                // One UNLINK per key: in a cluster each key may sit in
                // another slot of the same master.
                if !keys.is_empty() {
                    let mut pipe = redis::pipe();
                    for k in &keys {
                        pipe.cmd("UNLINK").arg(k).ignore();
                    }
                    pipe.query_async::<()>(&mut con)
                        .await
                        .map_err(|e| format!("UNLINK on {}: {e}", node.url))?;
                    removed += keys.len() as u64;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(removed)
    }
}

/// A connection to one node, without the crate's 500 ms response timeout.
pub async fn connect(url: &str) -> Result<MultiplexedConnection, String> {
    let client = redis::Client::open(url).map_err(|e| format!("{url}: {e}"))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(None);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))
}

/// The Redis Cluster hash slot of a key whose hash tag is `tag`
/// (CRC16/XMODEM mod 16384).
pub fn slot_of(tag: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in tag {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % SLOTS
}

/// The slot ranges of the `myself` line of a `CLUSTER NODES` answer.
pub fn own_slots(cluster_nodes: &str) -> Vec<(u16, u16)> {
    let Some(line) = cluster_nodes.lines().find(|l| {
        l.split_whitespace()
            .nth(2)
            .is_some_and(|flags| flags.split(',').any(|f| f == "myself"))
    }) else {
        return Vec::new();
    };
    line.split_whitespace()
        .skip(8)
        .filter(|s| !s.starts_with('['))
        .filter_map(|s| match s.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => s.parse().ok().map(|a| (a, a)),
        })
        .collect()
}

/// The first tag `t0`, `t1`, ... whose slot lies in `ranges`.
pub fn tag_in(ranges: &[(u16, u16)]) -> Option<String> {
    if ranges.is_empty() {
        return None;
    }
    (0..100_000u32).map(|i| format!("t{i}")).find(|t| {
        let s = slot_of(t.as_bytes());
        ranges.iter().any(|&(a, b)| a <= s && s <= b)
    })
}

/// `used_memory:<n>` of an `INFO memory` answer.
pub fn parse_used_memory(info: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.trim().strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // CRC16/XMODEM check value; `CLUSTER KEYSLOT 123456789` is 12739.
        assert_eq!(slot_of(b"123456789"), 12739);
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b""), 0);
    }

    #[test]
    fn own_slots_reads_the_myself_line() {
        let text = "a1 127.0.0.1:7001@17001 master - 0 0 1 connected 0-5460\n\
                    b2 127.0.0.1:7002@17002 myself,master - 0 0 2 connected 5461-10922 12000 [13000->-a1]\n\
                    c3 127.0.0.1:7003@17003 master - 0 0 3 connected 10923-16383\n";
        assert_eq!(own_slots(text), vec![(5461, 10922), (12000, 12000)]);
        let tag = tag_in(&own_slots(text)).unwrap();
        let s = slot_of(tag.as_bytes());
        assert!((5461..=10922).contains(&s) || s == 12000);
        assert!(own_slots("garbage").is_empty());
        assert!(own_slots("").is_empty());
        assert_eq!(tag_in(&[]), None);
    }

    #[test]
    fn used_memory_is_parsed() {
        let info = "# Memory\r\nused_memory:83084960\r\nused_memory_human:79.24M\r\n";
        assert_eq!(parse_used_memory(info), Some(83_084_960));
        assert_eq!(parse_used_memory("used_memory_rss:5\r\n"), None);
        assert_eq!(parse_used_memory("used_memory:x\r\n"), None);
    }
}
