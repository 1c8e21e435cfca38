#!/usr/bin/env bash
# ctest python_quickstart_e2e_test: generates the Python stubs into <build-dir>/stubs/python and
# runs examples/python/quickstart.py against a private stack.
#
#   tests/e2e/python_quickstart_test.sh <build-dir> <source-dir>
#
# STP_PYTHON picks the interpreter (default /usr/bin/python3, Debian's, with python3-grpcio).
set -euo pipefail
BUILD_DIR=$(cd "$1" && pwd)
SOURCE_DIR=$(cd "$2" && pwd)
PYTHON=${STP_PYTHON:-/usr/bin/python3}

if ! "$PYTHON" -c 'import grpc, google.protobuf' 2>/dev/null; then
  echo "python_quickstart_test: $PYTHON lacks grpc or protobuf" \
    "(apt install python3-grpcio python3-protobuf, or make deps-test)" >&2
  exit 1
fi
STUBS="$BUILD_DIR/stubs/python"
PYTHON="$PYTHON" "$SOURCE_DIR/tools/python/generate.sh" "$STUBS"
exec "$SOURCE_DIR/tests/e2e/run_with_stack.sh" "$BUILD_DIR" \
  env PYTHONPATH="$STUBS" "$PYTHON" "$SOURCE_DIR/examples/python/quickstart.py"
