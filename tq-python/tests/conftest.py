"""Backends for the tests: memory, RocksDB in a temporary directory, and a
redis-server this session starts on a free 127.0.0.1 port and stops after."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid

import pytest

import tq_rs

BACKENDS = ["memory", "rocksdb", "redis"]

REDIS_HINT = (
    "redis-server is not on PATH: the Redis tests need it. Install it with "
    "`apt-get install redis-server` (or run `bash scripts/test.sh`, which installs it)."
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url():
    """A throwaway redis-server for the session; fails (never skips) without one."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail(REDIS_HINT, pytrace=False)
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server on port {port} did not start", pytrace=False)
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def config_for(backend: str, request, tmp_path) -> dict:
    """A config dict of ``backend``, isolated from every other test."""
    if backend == "memory":
        return {"backend": "memory"}
    if backend == "rocksdb":
        return {"backend": "rocksdb", "rocksdb": {"path": str(tmp_path / "db"), "sync_writes": False}}
    url = request.getfixturevalue("redis_url")
    # One server for the session; a key prefix per test keeps tests apart.
    return {"backend": "redis", "redis": {"url": url, "key_prefix": f"t{uuid.uuid4().hex}"}}


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def config(backend, request, tmp_path) -> dict:
    return config_for(backend, request, tmp_path)


@pytest.fixture
def tq(config) -> tq_rs.TransferQueue:
    return tq_rs.TransferQueue(config)


@pytest.fixture
def mem() -> tq_rs.TransferQueue:
    return tq_rs.TransferQueue({"backend": "memory"})
