#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build (cmake -DSTP_FUZZ=ON with clang++-14) for a
# bounded time each. Seeds are read in place: the real files in ../shared/data by path, the
# project's own files, the seeds encoded from tests/fuzz/seeds, and tests/fuzz/regressions.
# New inputs accumulate in <build>/fuzz-corpus/<target>; a crash stops with the input's path.
#
# usage: tests/fuzz/run_fuzz.sh <fuzz build dir> <seconds per target>
set -uo pipefail
build=${1:?usage: run_fuzz.sh <fuzz build dir> <seconds per target>}
seconds=${2:?usage: run_fuzz.sh <fuzz build dir> <seconds per target>}
list="$build/tests/fuzz/fuzz_targets.txt"
[[ -f "$list" ]] || { echo "run_fuzz: $list not found; configure $build with -DSTP_FUZZ=ON" >&2; exit 2; }

failed=()
while read -r name seeds; do
  [[ -n "$name" ]] || continue
  bin="$build/tests/fuzz/$name"
  corpus="$build/fuzz-corpus/$name"
  artifacts="$build/fuzz-artifacts/$name"
  mkdir -p "$corpus" "$artifacts"
  # libFuzzer takes directories; a file argument would make it replay that file and stop.
  dirs=()
  for s in $seeds; do [[ -d "$s" ]] && dirs+=("$s"); done
  start=$(date +%s)
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" "${dirs[@]}" \
    >"$artifacts/log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$artifacts/log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$artifacts/log" | tail -1)
  echo "fuzz $name: ${runs:-0} runs in $(( $(date +%s) - start ))s, ${cov:-no coverage line}," \
       "corpus $(ls "$corpus" | wc -l) inputs, exit $rc"
  if (( rc != 0 )); then
    failed+=("$name")
    echo "fuzz $name FAILED; the input is in $artifacts (keep it as a regression under" \
         "tests/fuzz/regressions/$name/). Log tail:"
    tail -40 "$artifacts/log"
  fi
done <"$list"

if (( ${#failed[@]} > 0 )); then
  echo "fuzz: failures in ${failed[*]}"
  exit 1
fi
