#!/usr/bin/env bash
# Runs check.mjs after installing its pinned npm dependencies (package-lock.json) when they are
# missing or older than the lock file, as on a fresh clone. Installs are serialised with a lock
# so tests running in parallel do not race. Usage: run.sh manifests | run.sh expect-reject DIR...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "k8s-check: $tool is needed; deploy/install-deps.sh --test installs it" >&2
    exit 2
  fi
done

stale() {
  [[ ! -f "$here/node_modules/.package-lock.json" ||
    "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]]
}
if stale; then
  exec 9>"${TMPDIR:-/tmp}/stp-k8s-check-npm.lock"
  flock 9
  if stale; then
    echo "k8s-check: installing npm dependencies (npm ci)"
    npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
  fi
  flock -u 9
fi

exec node "$here/check.mjs" "$@"
