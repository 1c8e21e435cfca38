#!/usr/bin/env bash
# API checks of protos/ with buf (pinned in tools/buf/package.json):
#   1. buf lint: STANDARD style plus COMMENTS (an undocumented element fails), relaxed only
#      where AIP resource-oriented design differs (see buf.yaml);
#   2. buf breaking: FILE-level compatibility against the protos of the most recent release tag
#      (v*) reachable from HEAD, read with `git archive`. Without such a tag this part is
#      skipped, and says so.
#
#   tools/buf/check.sh
#
# Environment:
#   STP_BUF_AGAINST  a git ref to compare against instead of the latest v* tag (e.g. origin/main)
#   STP_BUF          a buf binary to use instead of tools/buf/node_modules/.bin/buf
#   GOOGLEAPIS_DIR   where google/rpc and google/type live
#                    (default /usr/share/gocode/src/github.com/gogo/googleapis)
#
# buf cannot fetch dependencies here, so it runs in a temporary workspace made of symlinks:
# protos/ -> the repository's protos/, third_party/google/{rpc,type} -> GOOGLEAPIS_DIR
# (google/protobuf is built into buf). Nothing is copied into the repository.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
GOOGLEAPIS_DIR=${GOOGLEAPIS_DIR:-/usr/share/gocode/src/github.com/gogo/googleapis}

BUF=${STP_BUF:-$HERE/node_modules/.bin/buf}
if [[ ! -x $BUF ]]; then
  if [[ -n ${STP_BUF:-} ]]; then
    echo "check.sh: STP_BUF=$STP_BUF is not executable" >&2
    exit 1
  fi
  if ! command -v npm >/dev/null; then
    echo "check.sh: npm is needed to install buf (make deps-test)" >&2
    exit 1
  fi
  echo "check.sh: installing the pinned buf (npm ci in tools/buf)"
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) >&2
fi
for d in "$GOOGLEAPIS_DIR/google/rpc" "$GOOGLEAPIS_DIR/google/type"; do
  [[ -d $d ]] || { echo "check.sh: $d not found (make deps)" >&2; exit 1; }
done

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export BUF_CACHE_DIR="$TMP/cache"

# make_workspace <dir> <protos-dir>
make_workspace() {
  mkdir -p "$1/third_party/google"
  cp "$HERE/buf.yaml" "$1/buf.yaml"
  ln -s "$2" "$1/protos"
  ln -s "$GOOGLEAPIS_DIR/google/rpc" "$1/third_party/google/rpc"
  ln -s "$GOOGLEAPIS_DIR/google/type" "$1/third_party/google/type"
}

echo "buf $("$BUF" --version)"
make_workspace "$TMP/current" "$ROOT/protos"
echo "== buf lint protos/"
(cd "$TMP/current" && "$BUF" lint protos)
echo "buf lint: ok"

echo "== buf breaking"
if ! git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
  echo "buf breaking: SKIPPED: $ROOT is not a git checkout, so there is no release to compare with"
  exit 0
fi
against=${STP_BUF_AGAINST:-}
if [[ -z $against ]]; then
  against=$(git -C "$ROOT" describe --tags --abbrev=0 --match 'v*' HEAD 2>/dev/null || true)
  if [[ -z $against ]]; then
    echo "buf breaking: SKIPPED: no release tag matching v* is reachable from HEAD yet, so there"
    echo "is no released API to stay compatible with. Tag a release (git tag v1.0.0) to start"
    echo "checking, or set STP_BUF_AGAINST=<git ref> to compare with a branch."
    exit 0
  fi
fi
if ! git -C "$ROOT" cat-file -e "$against:protos" 2>/dev/null; then
  echo "buf breaking: SKIPPED: $against has no protos/ directory to compare with"
  exit 0
fi
mkdir -p "$TMP/against-src"
git -C "$ROOT" archive --format=tar "$against" protos | tar -x -C "$TMP/against-src"
make_workspace "$TMP/against" "$TMP/against-src/protos"
echo "comparing protos/ with $against ($(git -C "$ROOT" rev-parse --short "$against^{commit}"))"
(cd "$TMP/current" && "$BUF" breaking protos --against "$TMP/against/protos")
echo "buf breaking against $against: ok"
