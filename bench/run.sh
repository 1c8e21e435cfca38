#!/usr/bin/env bash
# `make bench`: the quick benchmark run (under 5 minutes); writes bench/RESULTS.md.
# Pass --full for the long runs.
set -euo pipefail
BUILD_DIR=${1:-build}
shift || true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
"$BUILD_DIR/bench/stp-bench" --bin-dir "$BUILD_DIR" --out bench/RESULTS.md "$@"
# What the profiles say about the targets the run misses: kept by hand in bench/ANALYSIS.md,
# appended so that RESULTS.md carries the why beside the numbers.
if [[ -f bench/ANALYSIS.md && -f bench/RESULTS.md ]]; then
  { echo; cat bench/ANALYSIS.md; } >>bench/RESULTS.md
fi
