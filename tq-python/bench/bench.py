"""Python against Rust on the same backend, in the same run.

The perftest workload (1024 keys x 9 float32 fields x 8192 by default):
each iteration is kv_batch_put of numpy arrays (and torch tensors when torch
is importable), kv_batch_get of every key and field, kv_clear. The Rust
figure is the same workload through tq-facade, run by the extension itself
(`tq_rs._native.rust_baseline`): same build, same backend, same process.
Then single-row kv_put of a 4 x float32 row, from Python and from Rust.

    python tq-python/bench/bench.py [--backend memory|rocksdb] [--redis-url URL]

Build the extension in release first (see tq-python/README.md).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np

import tq_rs
from tq_rs import _native


def median(xs):
    return statistics.median(xs)


def python_workload(q, arrays, keys, iterations, output):
    puts, gets = [], []
    for _ in range(iterations):
        fields = {f"field_{i}": a for i, a in enumerate(arrays)}
        t0 = time.perf_counter()
        q.kv_batch_put(keys, "train_0", fields)
        t1 = time.perf_counter()
        got = q.kv_batch_get(keys, "train_0", output=output)
        t2 = time.perf_counter()
        assert got["field_0"].shape == arrays[0].shape
        del got
        q.kv_clear(keys, "train_0")
        puts.append(t1 - t0)
        gets.append(t2 - t1)
    return puts, gets


def small_puts(put, n):
    tiny = np.full(4, 0.5, dtype=np.float32)
    keys = [f"small_{i}" for i in range(n)]
    t0 = time.perf_counter()
    for k in keys:
        put(k, "small", {"x": tiny})
    return time.perf_counter() - t0, keys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="memory", choices=["memory", "rocksdb", "redis"])
    ap.add_argument("--redis-url", default=None, help="for --backend redis")
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--fields", type=int, default=9)
    ap.add_argument("--width", type=int, default=8192)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--small-ops", type=int, default=100_000)
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    # The Rust side opens its own store (a RocksDB directory is locked by
    # its opener): same backend and settings, another path or key prefix.
    if args.backend == "memory":
        config = rs_config = {"backend": "memory"}
    elif args.backend == "rocksdb":
        config = {"backend": "rocksdb", "rocksdb": {"path": tmp.name + "/py"}}
        rs_config = {"backend": "rocksdb", "rocksdb": {"path": tmp.name + "/rs"}}
    else:
        if not args.redis_url:
            ap.error("--backend redis needs --redis-url")
        config = {"backend": "redis", "redis": {"url": args.redis_url, "key_prefix": "bench-py"}}
        rs_config = {"backend": "redis", "redis": {"url": args.redis_url, "key_prefix": "bench-rs"}}

    nbytes = args.rows * args.fields * args.width * 4
    keys = [f"test_key_{i}" for i in range(args.rows)]
    arrays = [
        (np.arange(args.rows * args.width, dtype=np.int64) % 1000).astype(np.float32).reshape(args.rows, args.width)
        for _ in range(args.fields)
    ]
    print(f"backend {args.backend}; {args.rows} x {args.fields} x {args.width} float32 = {nbytes / 1e6:.0f} MB; "
          f"{args.iterations} iterations (+1 warm-up), medians")

    # Warm-up of both sides (page faults, the output pool), then the runs,
    # interleaved so that drift on the shared machine hits both alike.
    q = tq_rs.TransferQueue(config)
    python_workload(q, arrays, keys, 1, "numpy")
    _native.rust_baseline(rs_config, args.rows, args.fields, args.width, 1, 0)
    py_put, py_get, rs_put, rs_get = [], [], [], []
    for _ in range(args.iterations):
        p, g = python_workload(q, arrays, keys, 1, "numpy")
        r = _native.rust_baseline(rs_config, args.rows, args.fields, args.width, 1, 0)
        py_put += p
        py_get += g
        rs_put += r["put"]
        rs_get += r["get"]

    def line(what, secs, base):
        gbps = nbytes / median(secs) / 1e9
        ratio = median(base) / median(secs)
        print(f"  {what:<28} {gbps:7.2f} GB/s  ({median(secs) * 1e3:8.1f} ms)  {ratio:5.2f}x the Rust facade")

    print("put")
    line("Rust facade", rs_put, rs_put)
    line("Python, numpy", py_put, rs_put)
    print("get")
    line("Rust facade", rs_get, rs_get)
    line("Python, numpy", py_get, rs_get)

    try:
        import torch
    except ImportError:
        torch = None
        print("torch: not importable, skipped")
    if torch is not None:
        tensors = [torch.from_numpy(a) for a in arrays]
        tp, tg = python_workload(q, tensors, keys, args.iterations, "torch")
        print("torch")
        line("put, torch", tp, rs_put)
        line("get, torch", tg, rs_get)

    if args.small_ops:
        n = args.small_ops
        r = _native.rust_baseline(rs_config, 1, 1, 1, 0, n)
        secs_q, ks = small_puts(q.kv_put, n)
        q.kv_clear(ks, "small")
        q = None  # one store per opener (RocksDB locks its directory)
        tq_rs.init(config)
        secs_m, ks = small_puts(tq_rs.kv_put, n)
        tq_rs.kv_clear(ks, "small")
        secs_n, ks = small_puts(tq_rs._api._default._q.kv_put, n)
        tq_rs.kv_clear(ks, "small")
        print(f"single-row kv_put ({n:,} of a 4 x float32 row)")
        print(f"  Rust facade                  {n / r['small_put']:>10,.0f} /s")
        print(f"  Python tq_rs.kv_put          {n / secs_m:>10,.0f} /s  ({r['small_put'] / secs_m:.2f}x)")
        print(f"  Python TransferQueue.kv_put  {n / secs_q:>10,.0f} /s  ({r['small_put'] / secs_q:.2f}x)")
        print(f"  Python native method         {n / secs_n:>10,.0f} /s  ({r['small_put'] / secs_n:.2f}x)")


if __name__ == "__main__":
    main()
