#!/usr/bin/env bash
# Starts the whole stack on this machine: a private Redis (AOF on, data in .run/redis) and the
# four services on loopback, then waits until Ctrl-C and stops everything cleanly.
set -euo pipefail
BUILD_DIR=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN_DIR="$ROOT/.run"
BIN="$ROOT/$BUILD_DIR"
mkdir -p "$RUN_DIR/redis" "$RUN_DIR/logs"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  local p=$1
  while ! port_free "$p"; do p=$((p + 1)); done
  echo "$p"
}

REDIS_PORT=$(pick_port "${STP_REDIS_PORT:-6390}")
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "stopping..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "stopped; data kept in $RUN_DIR/redis"
}
trap cleanup INT TERM EXIT

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN_DIR/redis" \
  --appendonly yes --appendfsync everysec --save "" --daemonize no \
  --logfile "$RUN_DIR/logs/redis.log" &
pids+=($!)
for _ in $(seq 1 100); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.05
done
echo "redis        127.0.0.1:$REDIS_PORT (AOF in $RUN_DIR/redis)"

export STP_REDIS_ADDRESS="127.0.0.1:$REDIS_PORT"
export STP_PLAINTEXT=true
export STP_AUTH_DISABLED=${STP_AUTH_DISABLED:-true}
addresses=()
port=$(pick_port 50051)
metrics=$(pick_port 9091)
for svc in ingestion scoring matching notification; do
  "$BIN/services/$svc/stp-$svc" --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$metrics" \
    >"$RUN_DIR/logs/$svc.log" 2>&1 &
  pids+=($!)
  printf '%-12s 127.0.0.1:%s (metrics :%s, log %s)\n' "$svc" "$port" "$metrics" ".run/logs/$svc.log"
  addresses+=("127.0.0.1:$port")
  port=$(pick_port $((port + 1)))
  metrics=$(pick_port $((metrics + 1)))
done

echo
echo "health:"
"$BIN/tools/stpctl/stpctl" health --address "$(IFS=,; echo "${addresses[*]}")" --wait 20s
echo
echo "The stack is serving. Press Ctrl-C to stop."
wait "${pids[0]}"
