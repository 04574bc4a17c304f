#!/usr/bin/env bash
# Runs every test of tq-rs, installing first what the tests need when it is
# missing:
#   clang + libclang-dev  bindgen for librocksdb-sys (the RocksDB backend)
#   redis-server          the Redis tests start their own servers on 127.0.0.1
#   openssl               the Redis TLS test makes a throwaway CA
# Packages come from Debian's archive through apt-get (as root, or through
# sudo when it is there). `--install-only` stops after the installs.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
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
