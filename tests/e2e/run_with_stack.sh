#!/usr/bin/env bash
# Runs one command against a private, throwaway STP stack and tears the stack down afterwards.
#
#   tests/e2e/run_with_stack.sh <build-dir> <command> [args...]
#
# Starts a private redis-server (no persistence, listening only on a unix socket in a temp dir,
# so there is no port to race for) and build/services/allinone/stp-allinone on 127.0.0.1 port 0
# (the kernel picks a free port; the harness reads back which one). Waits until the server
# answers SERVING, seeds nothing, runs the command with these variables exported:
#
#   STP_ADDRESS        host:port of the stack, plaintext
#   STP_REDIS_ADDRESS  the private Redis, "unix:/path/to/socket"
#   STP_SERVER_LOG     the server's log file (JSON lines)
#   STP_ALLINONE_PID   the server's process id
#   STP_API_KEY        an OPERATOR key, only with STP_E2E_AUTH=1
#
# and exits with the command's status. The stack is always stopped and the temp dir removed
# (also on Ctrl-C and on SIGTERM; a watchdog stops it if the harness itself is killed). When
# the command or the start-up fails, the server log is printed.
#
# Environment:
#   STP_ALLINONE_EXTRA_ARGS  extra flags appended to the stp-allinone command line; they come
#                            last, so they win (e.g. "--no-auth-disabled --partitions 4").
#   STP_E2E_AUTH=1           authentication on: the server runs without --auth-disabled, and an
#                            OPERATOR key issued into the private Redis before it starts
#                            (stp-allinone --create-operator-key) is exported as STP_API_KEY.
#   STP_E2E_LOG_LEVEL        server log level (default info).
#   STP_E2E_KEEP=1           keep the temp dir (logs, Redis socket) for inspection.
# shellcheck disable=SC2317  # cleanup and on_signal run from traps
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 <build-dir> <command> [args...]" >&2
  exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
shift
ALLINONE="$BUILD_DIR/services/allinone/stp-allinone"
STPCTL="$BUILD_DIR/tools/stpctl/stpctl"
for exe in "$ALLINONE" "$STPCTL"; do
  if [[ ! -x $exe ]]; then
    echo "run_with_stack: $exe is missing; build the project first" >&2
    exit 2
  fi
done
if ! command -v redis-server >/dev/null; then
  echo "run_with_stack: redis-server is not installed (make deps-test)" >&2
  exit 2
fi

# A unix socket path must stay under ~107 bytes; fall back to /tmp when TMPDIR is deep.
tmp_root=${TMPDIR:-/tmp}
if [[ ${#tmp_root} -gt 60 ]]; then tmp_root=/tmp; fi
WORK=$(mktemp -d "$tmp_root/stp-e2e.XXXXXX")
REDIS_SOCK="$WORK/redis.sock"
SERVER_LOG="$WORK/server.log"
REDIS_LOG="$WORK/redis.log"
REDIS_OUT="$WORK/redis.out"  # what redis prints before its log file is open

redis_pid=""
server_pid=""
watchdog_pid=""
command_pid=""
status=1
show_logs=1

stop_pid() {  # stop_pid <pid> <name>: TERM, wait up to 10 s, then KILL.
  local pid=$1 name=$2
  [[ -n $pid ]] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "run_with_stack: $name did not stop within 10 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  trap - EXIT INT TERM
  set +e
  [[ -n $watchdog_pid ]] && kill "$watchdog_pid" 2>/dev/null
  stop_pid "$server_pid" stp-allinone
  stop_pid "$redis_pid" redis-server
  if [[ $show_logs -eq 1 ]]; then
    echo "---- stp-allinone log ($SERVER_LOG) ----" >&2
    cat "$SERVER_LOG" >&2 2>/dev/null
    if [[ -z $server_pid || ! -s $SERVER_LOG ]]; then
      echo "---- redis log ----" >&2
      cat "$REDIS_OUT" "$REDIS_LOG" >&2 2>/dev/null
    fi
    echo "---- end of logs ----" >&2
  fi
  if [[ ${STP_E2E_KEEP:-0} == 1 ]]; then
    echo "run_with_stack: kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
# On INT or TERM, pass the signal on to the command, let it finish, then clean up.
on_signal() {
  status=$2
  if [[ -n $command_pid ]]; then
    kill "-$1" "$command_pid" 2>/dev/null
    wait "$command_pid" 2>/dev/null
  fi
  exit
}
trap cleanup EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

# If this script is killed outright (SIGKILL, e.g. a test timeout), no trap runs: a watchdog
# then stops whatever was started (pids in $WORK/*.pid), so no server outlives its test.
harness_pid=$$
(
  set +e
  while kill -0 "$harness_pid" 2>/dev/null; do sleep 1; done
  pids=$(cat "$WORK"/*.pid 2>/dev/null)
  if [[ -n $pids ]]; then
    # shellcheck disable=SC2086  # one word per pid
    kill -TERM $pids 2>/dev/null
    for _ in $(seq 1 50); do
      # shellcheck disable=SC2086
      kill -0 $pids 2>/dev/null || break
      sleep 0.2
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
  fi
  rm -rf "$WORK"
) </dev/null >/dev/null 2>&1 &
watchdog_pid=$!

# ---- Redis
redis-server --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 700 \
  --save '' --appendonly no --daemonize no --dir "$WORK" --logfile "$REDIS_LOG" \
  </dev/null >"$REDIS_OUT" 2>&1 &
redis_pid=$!
echo "$redis_pid" >"$WORK/redis.pid"
for _ in $(seq 1 200); do
  redis-cli -s "$REDIS_SOCK" ping >/dev/null 2>&1 && break
  kill -0 "$redis_pid" 2>/dev/null || break
  sleep 0.05
done
if ! redis-cli -s "$REDIS_SOCK" ping >/dev/null 2>&1; then
  echo "run_with_stack: redis-server did not start" >&2
  exit
fi

# ---- stp-allinone
extra_args=()
if [[ -n ${STP_ALLINONE_EXTRA_ARGS:-} ]]; then
  read -r -a extra_args <<<"$STP_ALLINONE_EXTRA_ARGS"
fi
auth_args=(--auth-disabled)
if [[ ${STP_E2E_AUTH:-0} == 1 ]]; then
  auth_args=(--no-auth-disabled)
  # Straight into Redis, the way a fresh install gets its first key. The extra arguments are
  # passed too, so that a --key-prefix or --partitions there applies to the key as well.
  if ! STP_API_KEY=$("$ALLINONE" --redis-address "unix:$REDIS_SOCK" "${extra_args[@]}" \
    --create-operator-key e2e-harness 2>"$WORK/create-key.err"); then
    echo "run_with_stack: cannot issue an operator key:" >&2
    cat "$WORK/create-key.err" >&2
    exit
  fi
  export STP_API_KEY
fi
"$ALLINONE" --listen 127.0.0.1:0 --metrics-listen "" --plaintext "${auth_args[@]}" \
  --redis-address "unix:$REDIS_SOCK" --log-level "${STP_E2E_LOG_LEVEL:-info}" \
  "${extra_args[@]}" </dev/null >"$SERVER_LOG" 2>&1 &
server_pid=$!
echo "$server_pid" >"$WORK/server.pid"


# The server logs {"message":"serving",...,"port":N} once it listens. When the log level is
# raised above info that line is missing, so fall back to asking the kernel (ss) which TCP port
# the process listens on (with metrics switched on as well, keep the log level at info).
listen_port() {
  local p
  p=$(grep -m1 '"message":"serving"' "$SERVER_LOG" 2>/dev/null |
    sed -n 's/.*"port":\([0-9][0-9]*\).*/\1/p') || true
  if [[ -z $p ]] && command -v ss >/dev/null; then
    p=$(ss -Hltnp 2>/dev/null | grep "pid=$server_pid," |
      awk '{print $4}' | sed -n 's/.*:\([0-9][0-9]*\)$/\1/p' | head -1) || true
  fi
  echo "$p"
}
port=""
for _ in $(seq 1 400); do  # up to 20 s
  kill -0 "$server_pid" 2>/dev/null || break
  port=$(listen_port)
  [[ -n $port ]] && break
  sleep 0.05
done
if [[ -z $port ]]; then
  echo "run_with_stack: stp-allinone did not start listening" >&2
  exit
fi
export STP_ADDRESS="127.0.0.1:$port"
export STP_REDIS_ADDRESS="unix:$REDIS_SOCK"
export STP_SERVER_LOG="$SERVER_LOG"
export STP_ALLINONE_PID="$server_pid"

if ! "$STPCTL" health --address "$STP_ADDRESS" --wait 20s >"$WORK/health.txt" 2>&1; then
  echo "run_with_stack: stp-allinone at $STP_ADDRESS did not become SERVING:" >&2
  cat "$WORK/health.txt" >&2
  exit
fi

# ---- the command
# Run in the background and wait, so that a signal to this script is handled at once (bash
# defers traps while a foreground child runs); stdin is passed through explicitly.
set +e
exec 3<&0
"$@" <&3 3<&- &
command_pid=$!
exec 3<&-
wait "$command_pid"
status=$?
command_pid=""
set -e
if [[ $status -eq 0 ]]; then show_logs=0; fi
exit
