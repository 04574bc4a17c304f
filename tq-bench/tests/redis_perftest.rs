//! Runs the Redis parts of perftest on tiny shapes against servers the
//! test starts on 127.0.0.1: the engine baseline (redis-benchmark), the
//! memory probe, small ops and kv_list after churn, standalone and on a
//! 3-master cluster. Nothing here asserts speed. A missing redis-server or
//! redis-benchmark fails the test with the install hint.
#![cfg(feature = "redis")]

use tq_bench::redis_nodes::{RedisTarget, slot_of};
use tq_bench::{BackendSpec, Options, Report, Shape, engine, run};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn tiny_opts(spec: BackendSpec) -> Options {
    Options {
        backends: vec![spec],
        shapes: vec![Shape {
            batch: 8,
            fields: 3,
            seq_len: 64,
            jagged: false,
        }],
        iterations: 2,
        warmup: 0,
        small_ops: 0,
        small_ops_remote: 20,
        tasks_remote: 4,
        overhead_rows: 0,
        list_churn: 5,
        wake_ups: 5,
        engine_requests: Some(400),
        probe_exe: Some(env!("CARGO_BIN_EXE_perftest").into()),
        settle: std::time::Duration::ZERO,
        progress: false,
        ..Options::default()
    }
}

fn figure<'a>(report: &'a Report, name: &str) -> &'a tq_bench::report::Figure {
    report
        .figures
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no figure {name:?} in {:#?}", report.figures))
}

fn check(report: &Report, backend: &str) {
    for name in ["put (kv_batch_put)", "get (kv_batch_get)"] {
        let f = figure(report, name);
        assert_eq!(f.backend, backend);
        let base = f.baseline.as_deref().unwrap();
        assert!(base.contains("engine"), "{name} against {base}");
        assert!(f.ratio.is_some_and(|r| r > 0.0 && r.is_finite()));
    }
    let raw = figure(report, "put (kv_batch_put) vs redis crate");
    assert_eq!(raw.baseline.as_deref(), Some("redis crate write"));
    assert_eq!(figure(report, "redis engine set").seconds.len(), 2);
    let put1 = figure(report, "kv_put, 1 task");
    assert!(
        put1.baseline
            .as_deref()
            .unwrap()
            .contains("engine set -P1 -c1")
    );
    let get4 = figure(report, "kv_batch_get of 1 key, 4 tasks");
    assert!(get4.baseline.as_deref().unwrap().contains("engine get -P1"));
    let churned = figure(report, "kv_list of 16 keys, after 5 cycles");
    assert!(churned.ratio.is_some());
    assert_eq!(report.server_memory.len(), 1);
    let m = &report.server_memory[0];
    assert!(m.server_after_put > m.server_before, "{m:?}");
    assert!(m.raw_set_delta_over_payload.is_some());
    assert!(m.client_own_process && m.client_peak_rss > 0, "{m:?}");
    assert_eq!(report.wake.len(), 1);
    let w = &report.wake[0];
    assert_eq!(w.backend, backend);
    assert_eq!(w.putter, "another process");
    assert_eq!(w.latency.rounds, 5);
    assert!(w.baseline.starts_with("redis ping round trip"), "{w:?}");
    assert!(w.met.is_some());
    assert!(report.table().contains("redis engine set"));
    assert!(report.table().contains("redis engine set, new keys"));
    assert!(
        report.figures.iter().any(
            |f| f.name == "put (kv_batch_put) vs redis engine set, new keys"
                && f.baseline.as_deref() == Some("redis engine set, new keys")
        ),
        "{}",
        report.table()
    );
    assert!(report.table().contains("kv_wait wake-up after kv_put"));
    let json = serde_json::to_string(report).unwrap();
    assert!(json.contains("\"baseline\":\"redis engine set\""));
}

#[test]
fn standalone_redis_against_the_engine() {
    engine::check_installed().unwrap();
    let report = runtime()
        .block_on(run(&tiny_opts(BackendSpec::Redis)))
        .unwrap();
    check(&report, "redis");
}

#[test]
fn redis_cluster_against_the_engine() {
    engine::check_installed().unwrap();
    let report = runtime()
        .block_on(run(&tiny_opts(BackendSpec::RedisCluster)))
        .unwrap();
    check(&report, "redis-cluster");
    assert!(
        report
            .figures
            .iter()
            .any(|f| f.name == "redis engine set -P16 -c1 x3 masters")
    );
}

#[test]
fn cluster_tags_land_on_their_masters() {
    let cluster = tq_test_support::RedisCluster::start(3).unwrap();
    let target = runtime()
        .block_on(RedisTarget::cluster(&cluster.urls()))
        .unwrap();
    assert!(target.cluster);
    for (node, server) in target.nodes.iter().zip(cluster.nodes()) {
        let tag = node.tag.as_deref().unwrap();
        let slot = server.cli(&["CLUSTER", "KEYSLOT", tag]).unwrap();
        assert_eq!(slot.trim(), slot_of(tag.as_bytes()).to_string());
        // The master accepts a key of its tag (no MOVED).
        let key = format!("key:{{{tag}}}:1");
        assert_eq!(server.cli(&["SET", &key, "v"]).unwrap().trim(), "OK");
    }
}

#[test]
fn a_dead_server_is_an_error_not_a_hang() {
    // redis-benchmark spins when it cannot connect: the engine baseline
    // checks the servers first.
    let target = RedisTarget::standalone("redis://127.0.0.1:1");
    let err = runtime()
        .block_on(tq_bench::engine_run::EngineRun::calibrated(
            &target,
            None,
            1,
            1,
            16,
            (1.0, Some(10)),
        ))
        .err()
        .unwrap();
    assert!(err.contains("cannot connect"), "{err}");
}
