//! Criterion suites: kv_batch_put, kv_batch_get, kv_list and kv_clear, small
//! and large, per backend (memory always; rocksdb and redis with the cargo
//! features of the same names).
//!
//! `cargo bench -p tq-bench --bench kv [--features rocksdb,redis] [-- FILTER]`
//!
//! Sized for a 2-core machine: small = 16 rows x 2 fields x 128 f32 (16 KiB),
//! large = 256 rows x 4 fields x 4096 f32 (16 MiB); 10 samples, 1 s warm-up,
//! 3 s measurement per benchmark. Each benchmark times only its operation:
//! puts are cleared, clears are refilled, and get outputs are dropped, all
//! outside the timer.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tq_bench::run::{Opened, open};
use tq_bench::{BackendSpec, Options, Payload, Shape};

const PARTITION: &str = "bench";

fn shapes() -> [(&'static str, Shape); 2] {
    [
        (
            "small",
            Shape {
                batch: 16,
                fields: 2,
                seq_len: 128,
                jagged: false,
            },
        ),
        (
            "large",
            Shape {
                batch: 256,
                fields: 4,
                seq_len: 4096,
                jagged: false,
            },
        ),
    ]
}

fn backends() -> Vec<BackendSpec> {
    let mut v = vec![BackendSpec::Memory];
    if cfg!(feature = "rocksdb") {
        v.push(BackendSpec::RocksDb);
    }
    if cfg!(feature = "redis") {
        v.push(BackendSpec::Redis);
    }
    v
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn put(b: &Opened, p: &Payload) {
    let batch = p.batch().expect("batch");
    b.tq.kv_batch_put(&p.keys, PARTITION, Some(batch), None)
        .await
        .expect("kv_batch_put");
}

async fn clear(b: &Opened, p: &Payload) {
    b.tq.kv_clear(&p.keys, PARTITION, None)
        .await
        .expect("kv_clear");
}

fn kv(c: &mut Criterion) {
    let rt = runtime();
    let opts = Options::default();
    for spec in backends() {
        let b = rt.block_on(open(&spec, &opts)).expect("open backend");
        for (size, shape) in shapes() {
            let p = Payload::generate(shape, 1).expect("payload");
            let id = BenchmarkId::new(b.name.as_str(), size);

            let mut g = c.benchmark_group("kv_batch_put");
            g.throughput(Throughput::Bytes(p.bytes() as u64));
            g.bench_function(id.clone(), |bench| {
                bench.to_async(&rt).iter_custom(|iters| {
                    let (b, p) = (&b, &p);
                    async move {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let batch = p.batch().expect("batch");
                            let start = Instant::now();
                            b.tq.kv_batch_put(&p.keys, PARTITION, Some(batch), None)
                                .await
                                .expect("kv_batch_put");
                            total += start.elapsed();
                            clear(b, p).await;
                        }
                        total
                    }
                })
            });
            g.finish();

            rt.block_on(put(&b, &p));
            let mut g = c.benchmark_group("kv_batch_get");
            g.throughput(Throughput::Bytes(p.bytes() as u64));
            g.bench_function(id.clone(), |bench| {
                bench.to_async(&rt).iter_custom(|iters| {
                    let (b, p) = (&b, &p);
                    async move {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let start = Instant::now();
                            let got =
                                b.tq.kv_batch_get(&p.keys, PARTITION, None)
                                    .await
                                    .expect("kv_batch_get");
                            total += start.elapsed();
                            drop(got);
                        }
                        total
                    }
                })
            });
            g.finish();

            let mut g = c.benchmark_group("kv_list");
            g.throughput(Throughput::Elements(shape.batch as u64));
            g.bench_function(id.clone(), |bench| {
                bench
                    .to_async(&rt)
                    .iter(|| async { b.tq.kv_list(Some(PARTITION)).await.expect("kv_list") })
            });
            g.finish();
            rt.block_on(clear(&b, &p));

            let mut g = c.benchmark_group("kv_clear");
            g.throughput(Throughput::Elements(shape.batch as u64));
            g.bench_function(id, |bench| {
                bench.to_async(&rt).iter_custom(|iters| {
                    let (b, p) = (&b, &p);
                    async move {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            put(b, p).await;
                            let start = Instant::now();
                            b.tq.kv_clear(&p.keys, PARTITION, None)
                                .await
                                .expect("kv_clear");
                            total += start.elapsed();
                        }
                        total
                    }
                })
            });
            g.finish();
        }
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = kv
}
criterion_main!(benches);
