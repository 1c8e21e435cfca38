#!/usr/bin/env bash
# ctest stpctl_e2e_test: the real stpctl, as a partner or operator types it, against a private
# stack with authentication on (tests/e2e/run_with_stack.sh exports STP_ADDRESS and an
# OPERATOR key in STP_API_KEY): load countries, import a real IATI file, list, score, match,
# watch one event and resume from its cursor, exit codes, and the HTML report.
#
#   tests/e2e/stpctl_test.sh <build-dir> <source-dir>
#
# The import step reads $STP_SHARED_DATA (default /work/shared/data); without it, that step is
# skipped with a message and the rest runs on projects made here.
set -euo pipefail
BUILD_DIR=$(cd "$1" && pwd)
SOURCE_DIR=$(cd "$2" && pwd)

if [[ -z ${STP_STPCTL_IN_STACK:-} ]]; then
  if ! command -v python3 >/dev/null; then
    echo "stpctl_test: python3 is not installed (make deps-test)" >&2
    exit 1
  fi
  export STP_E2E_AUTH=1 STP_STPCTL_IN_STACK=1
  exec "$SOURCE_DIR/tests/e2e/run_with_stack.sh" "$BUILD_DIR" "$0" "$BUILD_DIR" "$SOURCE_DIR"
fi

# ---- inside the stack
export STP_PLAINTEXT=true
STPCTL="$BUILD_DIR/tools/stpctl/stpctl"
stpctl() { "$STPCTL" "$@"; }
WORK=$(mktemp -d)
watch_pid=""
cleanup() {
  [[ -n $watch_pid ]] && kill "$watch_pid" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
DATA=${STP_SHARED_DATA:-/work/shared/data}
failures=0
step() { echo; echo "== $*"; }
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# expect_exit CODE PATTERN COMMAND...: the command exits with CODE and says PATTERN (stdout or
# stderr).
expect_exit() {
  local want=$1 pattern=$2
  shift 2
  local got=0
  "$@" >"$WORK/out" 2>&1 || got=$?
  if [[ $got -ne $want ]]; then
    fail "'$*' exited $got, expected $want:"
    cat "$WORK/out" >&2
  elif ! grep -q -- "$pattern" "$WORK/out"; then
    fail "'$*' did not say '$pattern':"
    cat "$WORK/out" >&2
  else
    echo "ok: exit $got from: $*"
  fi
}

step "countries: the project's own CSV, then the three public files"
expect_exit 0 "10 of 10 countries upserted" \
  stpctl countries load "$SOURCE_DIR/tests/e2e/fixtures/countries.csv"
expect_exit 0 "lower-middle income" stpctl countries get EG
have_data=0
if [[ -f $DATA/iati/derived/dportal-subset-eg-za-china-triangular-v2.03.xml ]]; then
  have_data=1
  expect_exit 0 "countries upserted" stpctl countries load \
    --iso "$DATA/countries/iso3166-countries-with-regional-codes.csv" \
    --income "$DATA/countries/worldbank-country-metadata-income-groups.csv" \
    --bri "$DATA/bri/gfdc-bri-countries-2023-12.csv"
  expect_exit 0 "South Africa" stpctl countries list --bri --income upper-middle
  # The public files carry no indicators: the ones the project's CSV gave Egypt stay.
  expect_exit 0 "internet_users_pct" stpctl countries get EG
else
  echo "SKIP: $DATA/iati/derived/dportal-subset-eg-za-china-triangular-v2.03.xml is missing;" \
    "the public country files and the IATI import are skipped (set STP_SHARED_DATA)"
fi

step "organisations and a project of our own"
org=$(stpctl --json orgs create --name "Shenzhen Science Park Development" --type stp-operator \
  --country CN --roles technology-partner --avenues green-growth --languages zh,en |
  json 'd["name"]')
dfi=$(stpctl --json orgs create --name "African Development Fund" --type dfi --roles financier \
  --avenues green-growth --capacity 50000000 | json 'd["name"]')
expect_exit 0 "Shenzhen Science Park Development" stpctl orgs list --country CN
project=$(stpctl --json projects create --title "Green-growth incubator at the Suez Canal park" \
  --host-country EG --avenues green-growth --sectors 23210 --stage proposed \
  --participants "$org:technology-partner:lead,$dfi:financier" --budget 12000000 \
  --planned-start 2026-01-01 --planned-end 2028-12-31 --external-ids partner:SCZ-GG-7 |
  json 'd["name"]')
echo "created $project"
expect_exit 0 "Green-growth incubator" stpctl projects get "$project"
park=$(stpctl --json parks create --name "Suez Canal Technology Park" --host-country EG \
  --operator "$org" --status operational --avenues green-growth --tenants 40 | json 'd["name"]')
expect_exit 0 "Suez Canal Technology Park" stpctl parks list --host-country EG

if [[ $have_data -eq 1 ]]; then
  step "import a real IATI file"
  stpctl --json import "$DATA/iati/derived/dportal-subset-eg-za-china-triangular-v2.03.xml" \
    >"$WORK/import.json"
  created=$(json 'd.get("created", 0)' <"$WORK/import.json")
  rejected=$(json 'd.get("rejected", 0)' <"$WORK/import.json")
  received=$(json 'd.get("received", 0)' <"$WORK/import.json")
  echo "import: $received received, $created created, $rejected rejected"
  [[ $received -eq 375 ]] || fail "the file has 375 activities, the import read $received"
  [[ $created -gt 50 ]] || fail "only $created projects created from the IATI file"
  # Rejections are listed with their reasons; importing again changes nothing.
  expect_exit 0 "Rejected records" \
    stpctl import "$DATA/iati/derived/dportal-subset-eg-za-china-triangular-v2.03.xml"
  again=$(stpctl --json import "$DATA/iati/derived/dportal-subset-eg-za-china-triangular-v2.03.xml" |
    json 'd.get("created", 0)')
  [[ $again -eq 0 ]] || fail "importing the same file again created $again projects"
  listed=$(stpctl --json projects list --host-country ZA --limit 0 | json 'len(d["projects"])')
  [[ $listed -gt 10 ]] || fail "only $listed South African projects listed after the import"
  echo "ok: $listed South African projects listed"
fi

step "list, history, score, rank"
expect_exit 0 "$project" stpctl projects list --host-country EG --avenue green-growth --limit 0
expect_exit 0 "created" stpctl projects history "$project"
expect_exit 0 "absorptive fit" stpctl score "$project" --wait 30s
stpctl --json score "$project" >"$WORK/score.json"
total=$(json 'd["total"]' <"$WORK/score.json")
echo "score of $project: $total"
expect_exit 0 "matching projects" stpctl rank --host-country EG --limit 5
expect_exit 0 "base rate" stpctl portfolio --by avenue

step "match and consortia"
expect_exit 0 "Shenzhen Science Park Development" \
  stpctl match --host-country EG --avenues green-growth --roles technology-partner,financier
expect_exit 0 "Team 1" stpctl consortia --host-country EG --avenues green-growth \
  --roles technology-partner,financier

step "watch one event, then resume from its cursor"
stpctl --json watch --projects "$project" --types stage-changed --count 1 --heartbeat 1 \
  >"$WORK/watch.out" 2>"$WORK/watch.err" &
watch_pid=$!
for _ in $(seq 1 100); do
  grep -q "live" "$WORK/watch.err" 2>/dev/null && break
  sleep 0.1
done
grep -q "live" "$WORK/watch.err" || fail "watch did not become live: $(cat "$WORK/watch.err")"
expect_exit 0 "updated: stage" \
  stpctl projects update "$project" --stage approved --request-id e2e-watch-approved
for _ in $(seq 1 100); do
  kill -0 "$watch_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$watch_pid" 2>/dev/null; then
  fail "watch --count 1 did not stop after the update"
  kill "$watch_pid"
fi
watch_status=0
wait "$watch_pid" || watch_status=$?
watch_pid=""
[[ $watch_status -eq 0 ]] || fail "watch exited $watch_status: $(cat "$WORK/watch.err")"
[[ $(wc -l <"$WORK/watch.out") -eq 1 ]] || fail "watch --count 1 printed $(wc -l <"$WORK/watch.out") lines"
event_request=$(json 'd["event"].get("requestId", "")' <"$WORK/watch.out")
event_type=$(json 'd["event"]["type"]' <"$WORK/watch.out")
[[ $event_request == e2e-watch-approved ]] || fail "watch saw request id '$event_request'"
[[ $event_type == EVENT_TYPE_STAGE_CHANGED ]] || fail "watch saw $event_type"
cursor=$(sed -n 's/^cursor: //p' "$WORK/watch.err")
[[ -n $cursor ]] || fail "watch printed no cursor on exit: $(cat "$WORK/watch.err")"
echo "ok: watch saw $event_type of $event_request; cursor $cursor"
# A change while nobody watches arrives when watching resumes from the cursor.
stpctl projects update "$project" --stage financed --request-id e2e-watch-financed >/dev/null
expect_exit 0 "STAGE_CHANGED  $project" timeout 30 "$STPCTL" watch --projects "$project" \
  --types stage-changed --cursor "$cursor" --count 1

step "exit codes"
expect_exit 3 "NOT_FOUND" stpctl projects get projects/01m8h8ce5qfs3zzz
expect_exit 1 "project.avenues" stpctl projects create --title "No avenue" --host-country EG
expect_exit 2 "unknown flag --bogus" stpctl projects list --bogus
expect_exit 2 "is not one of" stpctl projects list --avenue space-travel
expect_exit 4 "UNAUTHENTICATED" \
  stpctl --api-key "stp_0000000000000000_$(printf 'a%.0s' $(seq 1 64))" countries list
expect_exit 5 "UNAVAILABLE" stpctl --address 127.0.0.1:1 --timeout 3s countries list

step "webhooks and API keys"
hook=$(stpctl --json webhooks create --url http://127.0.0.1:9/hook --secret 0123456789abcdef-secret \
  --name e2e --countries EG | json 'd["name"]')
expect_exit 0 "$hook" stpctl webhooks list
expect_exit 0 "WEBHOOK\|DELIVERY" stpctl webhooks deliveries "$hook"
expect_exit 0 "deleted" stpctl webhooks delete "$hook"
partner_key=$(stpctl admin keys create --role partner --org "$org" --name e2e-partner 2>/dev/null)
[[ $partner_key == stp_* ]] || fail "admin keys create printed '$partner_key'"
expect_exit 0 "e2e-partner" stpctl admin keys list
# The partner key works, and may not load countries (operators only).
expect_exit 0 "$project" stpctl --api-key "$partner_key" projects list --org "$org"
expect_exit 4 "PERMISSION_DENIED" stpctl --api-key "$partner_key" countries upsert XX --name Nowhere
key_name=$(stpctl --json admin keys list | json '[k["name"] for k in d["apiKeys"] if k.get("displayName") == "e2e-partner"][0]')
expect_exit 0 "revoked" stpctl admin keys revoke "$key_name"

step "the HTML report"
expect_exit 0 "report written" stpctl portfolio --by country --html "$WORK/report.html"
[[ $(grep -c "<rect" "$WORK/report.html") -gt 3 ]] || fail "the report has no bar charts"
grep -q "<script" "$WORK/report.html" && fail "the report has a script"
grep -Eo '(src|href)="[^"#][^"]*"' "$WORK/report.html" | grep -v '"data:' &&
  fail "the report loads an external resource"
grep -q "Top projects" "$WORK/report.html" || fail "the report has no top projects"
expect_exit 0 "park" stpctl parks get "$park"

echo
if [[ $failures -gt 0 ]]; then
  echo "stpctl_test: $failures failed checks" >&2
  exit 1
fi
echo "stpctl_test: every check passed"
