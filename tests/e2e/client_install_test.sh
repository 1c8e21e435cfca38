#!/usr/bin/env bash
# ctest client_install_test: installs the client library the way a partner would
# (cmake --install --component stp_client into a fresh prefix), builds a separate project
# against it with find_package(stp-client), and runs that program against a private stack.
#
#   tests/e2e/client_install_test.sh <build-dir> <source-dir>
set -euo pipefail
BUILD_DIR=$(cd "$1" && pwd)
SOURCE_DIR=$(cd "$2" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cmake --install "$BUILD_DIR" --component stp_client --prefix "$WORK/prefix" >"$WORK/install.log"
for f in lib/cmake/stp-client/stp-client-config.cmake include/stp-client/libs/client/stp_client.h \
  include/stp-client/stp/ingestion/v1/ingestion_service.grpc.pb.h; do
  if [[ ! -f $WORK/prefix/$f ]]; then
    echo "client_install_test: $f was not installed" >&2
    cat "$WORK/install.log" >&2
    exit 1
  fi
done
cmake -S "$SOURCE_DIR/tests/e2e/client_consumer" -B "$WORK/consumer" \
  -DCMAKE_PREFIX_PATH="$WORK/prefix" -DCMAKE_BUILD_TYPE=Release >"$WORK/configure.log" 2>&1 ||
  { cat "$WORK/configure.log" >&2; exit 1; }
cmake --build "$WORK/consumer" -j2 >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; exit 1; }
STP_E2E_AUTH=1 "$SOURCE_DIR/tests/e2e/run_with_stack.sh" "$BUILD_DIR" \
  "$WORK/consumer/stp-client-consumer"
