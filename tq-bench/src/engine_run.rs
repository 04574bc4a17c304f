//! The engine baseline inside a perftest workload: which redis-benchmark
//! loads a workload compares against, their row names, one sample per
//! iteration as the time the engine needs for the workload's operations,
//! and the "best of" row the backend's ratio is taken against.

use std::sync::Mutex;
use std::time::Duration;

use crate::engine::{self, Load};
use crate::redis_nodes::{Node, RedisTarget};
use crate::report::Figure;

/// Seconds per invocation that [`engine::calibrate`] aims for (SET + GET).
pub const DEFAULT_SECS: f64 = 2.0;

/// One redis-benchmark load against some of a store's nodes; unless its
/// requests are fixed, each sample resizes them from its own rates so that
/// the next invocation takes about the aimed-for time.
#[derive(Debug)]
pub struct EngineRun {
    /// Row name of its `SET` figure.
    pub set_name: String,
    /// Row name of its `GET` figure.
    pub get_name: String,
    /// Row name of its figure for `SET`s of new keys ([`EngineRun::sample_new_sets`]).
    pub new_set_name: String,
    nodes: Vec<Node>,
    load: Mutex<Load>,
    /// Seconds per invocation to aim for; `None` when requests are fixed.
    secs: Option<f64>,
}

/// How many nodes a run uses, for row names.
fn nodes_label(target: &RedisTarget, used: usize) -> String {
    let all = target.nodes.len();
    if !target.cluster {
        String::new()
    } else if used == all {
        format!(" x{all} masters")
    } else {
        format!(", {used} of {all} masters")
    }
}

impl EngineRun {
    /// A run of `clients` connections per node, each pipelining `pipeline`
    /// requests of `value_bytes`, against the first `nodes` nodes of
    /// `target` (all when `None`), sized to about `secs` per invocation
    /// unless `requests` fixes it.
    pub async fn calibrated(
        target: &RedisTarget,
        nodes: Option<usize>,
        clients: usize,
        pipeline: usize,
        value_bytes: usize,
        sizing: (f64, Option<usize>),
    ) -> Result<Self, String> {
        let used = nodes.unwrap_or(target.nodes.len()).min(target.nodes.len());
        let nodes: Vec<Node> = target.nodes[..used].to_vec();
        let (secs, requests) = sizing;
        target.ping().await?;
        let probe_nodes = nodes.clone();
        let load = tokio::task::spawn_blocking(move || {
            engine::calibrate(&probe_nodes, clients, pipeline, value_bytes, secs, requests)
        })
        .await
        .map_err(|e| format!("redis-benchmark task: {e}"))??;
        target.unlink_matching("key:*").await?;
        let suffix = nodes_label(target, used);
        Ok(EngineRun {
            set_name: format!("redis engine set {}{suffix}", load.label()),
            get_name: format!("redis engine get {}{suffix}", load.label()),
            new_set_name: format!("redis engine set new keys {}{suffix}", load.label()),
            nodes,
            load: Mutex::new(load),
            secs: requests.is_none().then_some(secs),
        })
    }

    /// Runs the load once and returns the time the engine needs for `ops`
    /// `SET`s and for `ops` `GET`s at its measured rates; then removes the
    /// benchmark's keys.
    pub async fn sample(
        &self,
        target: &RedisTarget,
        ops: usize,
    ) -> Result<(Duration, Duration), String> {
        target.ping().await?;
        let (nodes, load) = (self.nodes.clone(), self.load());
        let rates = tokio::task::spawn_blocking(move || engine::measure(&nodes, &load))
            .await
            .map_err(|e| format!("redis-benchmark task: {e}"))??;
        if let Some(secs) = self.secs {
            let next = engine::resized(&load, &rates, self.nodes.len(), secs);
            *self.load.lock().unwrap_or_else(|e| e.into_inner()) = next;
        }
        target.unlink_matching("key:*").await?;
        let time = |rps: f64| Duration::from_secs_f64(ops as f64 / rps);
        Ok((time(rates.set), time(rates.get)))
    }

    /// The time the engine needs to store `ops` values under keys it does
    /// not hold yet (its load's connections and pipeline, `ops` requests
    /// spread over the nodes, at least 1,000 in all), as a put of `ops` new
    /// cells has it do: [`engine::measure_new_sets`]. Then removes the keys.
    pub async fn sample_new_sets(
        &self,
        target: &RedisTarget,
        ops: usize,
    ) -> Result<Duration, String> {
        target.ping().await?;
        let nodes = self.nodes.clone();
        let load = Load {
            requests: ops.max(1_000).div_ceil(nodes.len().max(1)),
            ..self.load()
        };
        let rate = tokio::task::spawn_blocking(move || engine::measure_new_sets(&nodes, &load))
            .await
            .map_err(|e| format!("redis-benchmark task: {e}"))??;
        target.unlink_matching("key:*").await?;
        if rate <= 0.0 {
            return Err(format!(
                "redis-benchmark's new-keys SET test gave a rate of {rate}"
            ));
        }
        Ok(Duration::from_secs_f64(ops as f64 / rate))
    }

    fn load(&self) -> Load {
        *self.load.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The redis-benchmark settings, for notes.
    pub fn describe(&self) -> String {
        let load = self.load();
        format!(
            "{}: -d {} -n {} -r {} per node{}",
            self.set_name.trim_start_matches("redis engine set "),
            load.value_bytes,
            load.requests,
            load.keyspace,
            match self.secs {
                Some(s) => format!(" (first run; each run resized to about {s} s)"),
                None => String::new(),
            }
        )
    }
}

/// The row `name` whose sample `i` is the fastest sample `i` of `figs`
/// (the engine at whichever concurrency served it better in that iteration).
pub fn best_of(name: &str, figs: &[&Figure]) -> Option<Figure> {
    let first = figs.first()?;
    let n = figs.iter().map(|f| f.seconds.len()).min().unwrap_or(0);
    let seconds = (0..n)
        .map(|i| {
            figs.iter()
                .map(|f| f.seconds[i])
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    let mut best = Figure::new(&first.backend, &first.workload, name, seconds);
    best.bytes = first.bytes;
    best.ops = first.ops;
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_of_takes_the_fastest_per_iteration() {
        let a = Figure::new("redis", "w", "a", vec![1.0, 4.0, 2.0]).bytes(10);
        let b = Figure::new("redis", "w", "b", vec![2.0, 3.0]);
        let best = best_of("best", &[&a, &b]).unwrap();
        assert_eq!(best.seconds, vec![1.0, 3.0]);
        assert_eq!(best.bytes, Some(10));
        assert_eq!(best.name, "best");
        assert!(best_of("x", &[]).is_none());
    }

    #[test]
    fn names_say_which_masters() {
        let node = |tag: Option<&str>| Node {
            url: "redis://127.0.0.1:1".into(),
            tag: tag.map(str::to_owned),
        };
        let single = RedisTarget::standalone("redis://127.0.0.1:1");
        assert_eq!(nodes_label(&single, 1), "");
        let cluster = RedisTarget {
            nodes: vec![node(Some("a")), node(Some("b")), node(Some("c"))],
            cluster: true,
        };
        assert_eq!(nodes_label(&cluster, 3), " x3 masters");
        assert_eq!(nodes_label(&cluster, 1), ", 1 of 3 masters");
    }
}
