#!/usr/bin/env bash
# Installs the Debian bookworm packages the project builds, tests and runs with.
# Idempotent: packages already present are skipped, and apt is not touched at all when
# nothing is missing. Run as root (or with sudo available).
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake pkg-config git
  protobuf-compiler libprotobuf-dev
  libgrpc++-dev protobuf-compiler-grpc
  golang-github-gogo-googleapis-dev grpc-proto
  libabsl-dev libhiredis-dev libjemalloc-dev libzstd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  prometheus-cpp-dev libcurl4-openssl-dev libxml2-dev nlohmann-json3-dev libssl-dev
  redis-server redis-tools openssl ca-certificates
)
# Tooling used by `make test` only: fuzzers (clang), network namespaces for the blackhole test
# (iproute2), metric and manifest validation
# (promtool, yamllint, node), partner clients (python grpcio, node).
TEST_PKGS=(
  clang-14 libclang-rt-14-dev
  iproute2
  prometheus
  yamllint
  python3 python3-grpcio python3-protobuf
  nodejs npm
  chromium
)

want=("${BUILD_PKGS[@]}")
if [[ "${1:-}" == "--test" ]]; then want+=("${TEST_PKGS[@]}"); fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    # nodejs/npm may come from outside Debian on a developer machine; accept a working binary.
    case "$p" in
      nodejs) command -v node >/dev/null 2>&1 && continue ;;
      npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are absent or older than a day.
if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]]; then
  $SUDO apt-get update -qq
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  # Stale package lists give 404s; refresh once and try again.
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
