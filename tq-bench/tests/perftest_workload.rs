//! Runs the perftest workload logic on tiny shapes, so the code path is
//! exercised by `cargo test`. Nothing here times anything or asserts speed.

use tq_bench::{BackendSpec, Options, Shape, run};

#[test]
fn perftest_workload_runs_on_a_tiny_shape() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dense = Shape {
        batch: 8,
        fields: 3,
        seq_len: 16,
        jagged: false,
    };
    let opts = Options {
        backends: vec![BackendSpec::Memory],
        shapes: vec![
            dense,
            Shape {
                jagged: true,
                ..dense
            },
        ],
        iterations: 2,
        warmup: 1,
        small_ops: 50,
        small_ops_remote: 0,
        tasks: 4,
        tiny_len: 2,
        overhead_rows: 100,
        wake_ups: 20,
        checkpoint_memory_bytes: 4000,
        verify: true,
        progress: false,
        ..Options::default()
    };
    let report = rt.block_on(run(&opts)).expect("perftest workload");

    for workload in ["8x3x16", "8x3x1..16 jagged"] {
        for name in [
            "put (kv_batch_put)",
            "list (kv_list)",
            "get (kv_batch_get)",
            "delete (kv_clear)",
        ] {
            let f = report
                .figures
                .iter()
                .find(|f| f.workload == workload && f.name == name)
                .unwrap_or_else(|| panic!("no figure {name} for {workload}"));
            assert_eq!(f.seconds.len(), 2, "{name}: one sample per timed iteration");
        }
    }
    let put = report
        .figures
        .iter()
        .find(|f| f.name == "put (kv_batch_put)")
        .unwrap();
    assert_eq!(put.baseline.as_deref(), Some("memcpy into touched buffer"));
    assert!(put.ratio.is_some());
    assert!(report.figures.iter().any(|f| f.name == "kv_put, 1 task"));
    assert!(
        report
            .figures
            .iter()
            .any(|f| f.name == "kv_batch_get of 1 key, 4 tasks")
    );
    for workload in ["8x3x16 checkpoint", "8x3x1..16 jagged checkpoint"] {
        for (name, baseline) in [
            ("checkpoint save (file://)", "std::fs write"),
            ("checkpoint load (file://)", "std::fs read"),
        ] {
            let f = report
                .figures
                .iter()
                .find(|f| f.workload == workload && f.name == name)
                .unwrap_or_else(|| panic!("no figure {name} for {workload}"));
            assert_eq!(f.seconds.len(), 2, "{name}");
            assert_eq!(f.baseline.as_deref(), Some(baseline));
            assert!(f.ratio.is_some() && f.bytes.is_some_and(|b| b > 0));
        }
    }
    let ckpt_memory = &report.checkpoint_memory[0];
    assert!(ckpt_memory.store_bytes >= 4000, "{ckpt_memory:?}");
    assert!(ckpt_memory.save_peak_rss > 0, "{ckpt_memory:?}");
    assert_eq!(report.overhead.len(), 2);
    let wake = &report.wake[0];
    assert_eq!(wake.latency.rounds, 20);
    assert_eq!(wake.baseline, "tokio Notify wake-up between tasks");
    assert!(wake.notifications.contains("InProcess"), "{wake:?}");
    assert!(wake.met.is_some());
    assert!(report.table().contains("kv_wait wake-up after kv_put"));
    assert!(report.table().contains("kv_batch_put"));
    assert!(serde_json::to_string(&report).is_ok());
}
