#!/usr/bin/env bash
# `make bench`: the quick benchmark run (under 5 minutes); writes bench/RESULTS.md.
# Pass --full for the long runs.
set -euo pipefail
BUILD_DIR=${1:-build}
shift || true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
"$BUILD_DIR/bench/stp-bench" --bin-dir "$BUILD_DIR" --out bench/RESULTS.md "$@"
