#!/usr/bin/env bash
# ctest node_client_e2e_test: installs the pinned Node packages when they are missing or stale
# (npm ci from package-lock.json) and runs create_read_subscribe.js against a private stack.
#
#   tests/e2e/node_client_test.sh <build-dir> <source-dir>
set -euo pipefail
BUILD_DIR=$(cd "$1" && pwd)
SOURCE_DIR=$(cd "$2" && pwd)
NODE_DIR="$SOURCE_DIR/tests/e2e/node"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "node_client_test: $tool is not installed (make deps-test)" >&2
    exit 1
  fi
done
# `npm ls` fails when node_modules is missing or does not match package.json.
if ! (cd "$NODE_DIR" && npm ls --depth=0 >/dev/null 2>&1); then
  echo "node_client_test: installing the pinned packages (npm ci in $NODE_DIR)"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi
exec "$SOURCE_DIR/tests/e2e/run_with_stack.sh" "$BUILD_DIR" \
  node "$NODE_DIR/create_read_subscribe.js"
