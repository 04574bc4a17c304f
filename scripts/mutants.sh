#!/usr/bin/env bash
# How many plausible bugs does the conformance suite ALONE catch?
#
# Runs cargo-mutants over the KV engine (the memory backend and tq-core's
# kv module) and tests every mutant with nothing but the conformance suite on
# the memory backend (`cargo test -p tq-backend-memory --test conformance`).
# A mutant that survives is a change of behaviour the suite does not guard.
#
# Usage (from anywhere; it works from the repo root):
#   scripts/mutants.sh            # the KV engine (default)
#   scripts/mutants.sh engine     # same
#   scripts/mutants.sh data       # tq-core's tag.rs, names.rs, column.rs, batch.rs
#   scripts/mutants.sh engine --list   # extra arguments go to cargo-mutants
#
# Results: target/mutants-<set>/mutants.out/{caught,missed,timeout,unviable}.txt
# (under target/, which git ignores). The last line printed is the summary.
#
# Definitions used in the summary:
#   caught    the conformance suite failed on the mutant
#   timeout   the suite ran past --timeout (a hang counts as detected)
#   missed    the suite passed: the mutant survived
#   unviable  the mutant does not compile; not counted
#   kill ratio = (caught + timeout) / (caught + missed + timeout)
#
# Needs cargo-mutants (tested with 27.1.0). Takes about 10-15 minutes per set
# on a 2-core machine once dependencies are built.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! cargo mutants --version >/dev/null 2>&1; then
  echo "cargo-mutants is not installed. Install it with:" >&2
  echo "  cargo install cargo-mutants --locked" >&2
  exit 1
fi

set_name="${1:-engine}"
[ "$#" -gt 0 ] && shift
case "$set_name" in
  engine)
    # The KV engine: the backend's storage code and tq-core's kv_* layer.
    files=(--file 'tq-backend-memory/src/*.rs' --file 'tq-core/src/kv/**/*.rs')
    ;;
  data)
    # tq-core's data model pieces the KV engine relies on.
    files=(--file 'tq-core/src/tag.rs' --file 'tq-core/src/names.rs'
           --file 'tq-core/src/column.rs' --file 'tq-core/src/batch.rs')
    ;;
  *)
    echo "usage: $0 [engine|data] [extra cargo-mutants args...]" >&2
    exit 1
    ;;
esac

out="target/mutants-$set_name"
mkdir -p "$out"

# Target dirs. cargo-mutants builds in a scratch copy of the tree (without
# target/); we point it at a fixed target dir of its own so that dependencies
# are compiled once and reused by later runs (with --jobs 1 only one build
# uses it at a time). It must NOT be the target dir of normal builds: cargo
# names a workspace crate's artifacts the same whichever copy of the tree
# built them, and the mutated copy's files are newer than the work tree's,
# so a later `cargo test` in the work tree would take the last mutant's
# artifacts as up to date and run mutated code.
normal_target="${CARGO_TARGET_DIR:-$root/target}"
mutants_target="$root/target/mutants-build"

start=$SECONDS

# Baseline: the suite must pass on the unmutated tree, with the exact test
# command every mutant gets. We run it here rather than letting cargo-mutants
# do it, because cargo-mutants' baseline tests the packages that hold mutants
# and ignores --test-package: for the `data` set (tq-core only) it would ask
# for a `conformance` test target in tq-core, which does not exist.
listing=false
for arg in "$@"; do
  case "$arg" in --list|--list-files) listing=true ;; esac
done
$listing || echo "baseline: cargo test -p tq-backend-memory --test conformance"
if ! $listing && ! CARGO_TARGET_DIR="$normal_target" \
    cargo test -p tq-backend-memory --test conformance -q >"$out/baseline.log" 2>&1; then
  tail -n 30 "$out/baseline.log" >&2
  echo "the conformance suite fails on the unmutated tree (log: $out/baseline.log); no measurement" >&2
  exit 4
fi

rc=0
# --jobs 1              one mutant at a time: the machine has 2 shared cores.
# --timeout 120         fixed per-mutant test timeout (the suite takes ~3-5 s),
#                       so results do not depend on how loaded the baseline
#                       run happened to be; a mutant that hangs is "timeout".
# --file ...            which source files to mutate (globs on the path).
# --test-package tq-backend-memory
#                       test every mutant, including those in tq-core, with
#                       the memory backend's tests rather than the mutated
#                       package's own tests (tq-core's unit tests are not the
#                       suite we are measuring).
# --cargo-arg=--test=conformance
#                       given to both `cargo test --no-run` and `cargo test`:
#                       build and run only the conformance test target, not
#                       the backend's unit tests or its other integration tests.
# --baseline skip       the baseline ran above (see there for why).
# --output "$out"       keep results under target/ so the work tree stays clean.
# (Default copy mode, not --in-place: the work tree is never modified, so an
# interrupted run cannot leave a mutated source file behind.)
CARGO_TARGET_DIR="$mutants_target" cargo mutants \
  --jobs 1 \
  --timeout 120 \
  "${files[@]}" \
  --test-package tq-backend-memory \
  --cargo-arg=--test=conformance \
  --baseline skip \
  --output "$out" \
  "$@" || rc=$?
wall=$((SECONDS - start))

# Exit codes: 0 all caught, 2 some missed, 3 some timed out; anything else
# (1 usage, 4 baseline failed, ...) means there is no measurement.
case "$rc" in
  0|2|3) ;;
  *) echo "cargo mutants failed with exit code $rc (no measurement)" >&2; exit "$rc" ;;
esac
# `--list` runs test nothing: no summary (mutants.out may hold an older run's).
$listing && exit 0

count() { if [ -f "$1" ]; then grep -c . "$1" || true; else echo 0; fi; }
caught=$(count "$out/mutants.out/caught.txt")
missed=$(count "$out/mutants.out/missed.txt")
timeout=$(count "$out/mutants.out/timeout.txt")
unviable=$(count "$out/mutants.out/unviable.txt")
total=$((caught + missed + timeout + unviable))
viable=$((caught + missed + timeout))
ratio="n/a"
if [ "$viable" -gt 0 ]; then
  ratio=$(awk -v k=$((caught + timeout)) -v v="$viable" 'BEGIN { printf "%.1f%%", 100 * k / v }')
fi
echo "missed mutants: $out/mutants.out/missed.txt"
echo "mutants ($set_name): $total total, $caught caught, $missed missed, $timeout timeout, $unviable unviable; kill ratio (caught+timeout)/(caught+missed+timeout) = $((caught + timeout))/$viable = $ratio; wall ${wall}s"
