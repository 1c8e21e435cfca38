#!/usr/bin/env bash
# `make run`: starts the whole stack on this machine — a private Redis (AOF on, data in
# .run/redis) and the four services on loopback, each its own process — loads the project's own
# demo data set, shows the product working, then keeps serving until Ctrl-C stops everything.
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

# A Redis an earlier run left behind (its script was killed outright, e.g. with SIGKILL, so it
# could not stop it) still owns .run/redis: stop it before starting another on the same files.
REDIS_PID_FILE="$RUN_DIR/redis.pid"
if [[ -s "$REDIS_PID_FILE" ]]; then
  old_pid=$(cat "$REDIS_PID_FILE")
  if kill -0 "$old_pid" 2>/dev/null && grep -q redis-server "/proc/$old_pid/cmdline" 2>/dev/null; then
    echo "stopping the Redis an earlier run left behind (pid $old_pid)"
    kill -TERM "$old_pid"
    for _ in $(seq 1 100); do kill -0 "$old_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$REDIS_PID_FILE"
fi

REDIS_PORT=$(pick_port "${STP_REDIS_PORT:-6390}")
pids=()
cleanup() {
  trap "" INT TERM  # a second signal (Ctrl-C twice, timeout's group kill) must not cut the drain short
  trap - EXIT
  echo
  echo "stopping..."
  # The services first, so that none of them loses its store while it drains; Redis (the first
  # pid) last.
  local services=("${pids[@]:1}")
  for pid in "${services[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${services[@]}"; do wait "$pid" 2>/dev/null || true; done
  kill -TERM "${pids[0]}" 2>/dev/null || true
  wait "${pids[0]}" 2>/dev/null || true
  echo "stopped; data kept in $RUN_DIR/redis"
}
trap cleanup INT TERM EXIT

# In a session of its own, so that Ctrl-C (sent to the whole foreground group) reaches the
# services but not Redis; cleanup stops Redis after the services have drained.
setsid redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN_DIR/redis" \
  --appendonly yes --appendfsync everysec --save "" --daemonize no --pidfile "$REDIS_PID_FILE" \
  --logfile "$RUN_DIR/logs/redis.log" &
pids+=($!)
for _ in $(seq 1 100); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.05
done
echo "redis          127.0.0.1:$REDIS_PORT (AOF in .run/redis)"

export STP_REDIS_ADDRESS="127.0.0.1:$REDIS_PORT"
export STP_PLAINTEXT=true  # loopback only
# The operator key of this local install: made once, kept in .run/operator.key.
KEY_FILE="$RUN_DIR/operator.key"
if [[ ! -s "$KEY_FILE" ]]; then
  "$BIN/services/ingestion/stp-ingestion" --create-operator-key make-run >"$KEY_FILE" 2>/dev/null
  chmod 600 "$KEY_FILE"
fi
API_KEY=$(cat "$KEY_FILE")
export STP_SERVICE_API_KEY="$API_KEY"  # how the services call each other

declare -A ADDR
port=$(pick_port 50051)
metrics=$(pick_port 9091)
for svc in ingestion scoring matching notification; do
  ADDR[$svc]="127.0.0.1:$port"
  port=$(pick_port $((port + 1)))
done
start() {
  local svc=$1
  shift
  "$BIN/services/$svc/stp-$svc" --listen "${ADDR[$svc]}" --metrics-listen "127.0.0.1:$metrics" "$@" \
    >"$RUN_DIR/logs/$svc.log" 2>&1 &
  pids+=($!)
  printf '%-14s %s (metrics :%s, log .run/logs/%s.log)\n' "$svc" "${ADDR[$svc]}" "$metrics" "$svc"
  metrics=$(pick_port $((metrics + 1)))
}
start ingestion
start scoring --scoring-ingestion-address "${ADDR[ingestion]}" --scoring-ingestion-plaintext
start matching --matching-ingestion-address "${ADDR[ingestion]}" --matching-ingestion-plaintext \
  --matching-scoring-address "${ADDR[scoring]}" --matching-scoring-plaintext \
  --matching-snapshot-file "$RUN_DIR/matching.snapshot"
start notification

echo
echo "health:"
"$BIN/tools/stpctl/stpctl" health --wait 30s \
  --address "${ADDR[ingestion]},${ADDR[scoring]},${ADDR[matching]},${ADDR[notification]}"

echo
DEMO=("$BIN/tools/demo/stp-demo" --api-key "$API_KEY" --address "${ADDR[ingestion]}"
      --scoring-address "${ADDR[scoring]}" --matching-address "${ADDR[matching]}"
      --notification-address "${ADDR[notification]}" --countries "$ROOT/deploy/demo/countries.csv")
"${DEMO[@]}" load
"${DEMO[@]}" show

cat <<EOT

The stack is serving. In another shell, use it with stpctl:

  export STP_PLAINTEXT=true STP_API_KEY=\$(cat $KEY_FILE)
  export STP_ADDRESS=${ADDR[ingestion]} STP_SCORING_ADDRESS=${ADDR[scoring]}
  export STP_MATCHING_ADDRESS=${ADDR[matching]} STP_NOTIFICATION_ADDRESS=${ADDR[notification]}
  $BUILD_DIR/tools/stpctl/stpctl projects list --host-country countries/EG
  $BUILD_DIR/tools/stpctl/stpctl portfolio --by avenue --html report.html
  $BUILD_DIR/tools/stpctl/stpctl watch

Press Ctrl-C to stop.
EOT
wait "${pids[0]}"
