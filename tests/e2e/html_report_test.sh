#!/usr/bin/env bash
# ctest html_report_test: writes the portfolio report with the real stpctl against a private
# stack (tests/e2e/run_with_stack.sh, authentication on) holding a small data set made here,
# then renders it in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core
# pinned in tests/e2e/report/) and fails on any console error, page error or network request,
# or when the charts do not match the API's own portfolio numbers.
#
#   tests/e2e/html_report_test.sh <build-dir> <source-dir>
#
# STP_REPORT_SCREENSHOT=<file.png> keeps a full-page screenshot of the report.
set -euo pipefail
BUILD_DIR=$(cd "$1" && pwd)
SOURCE_DIR=$(cd "$2" && pwd)
REPORT_DIR="$SOURCE_DIR/tests/e2e/report"

if [[ -z ${STP_REPORT_IN_STACK:-} ]]; then
  if [[ ! -x ${STP_CHROMIUM:-/usr/bin/chromium} ]]; then
    echo "html_report_test: ${STP_CHROMIUM:-/usr/bin/chromium} is missing (apt-get install chromium)" >&2
    exit 1
  fi
  for tool in node npm python3; do
    if ! command -v "$tool" >/dev/null; then
      echo "html_report_test: $tool is not installed (make deps-test)" >&2
      exit 1
    fi
  done
  # `npm ls` fails when node_modules is missing or does not match package.json.
  if ! (cd "$REPORT_DIR" && npm ls --depth=0 >/dev/null 2>&1); then
    echo "html_report_test: installing the pinned packages (npm ci in $REPORT_DIR)"
    (cd "$REPORT_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  export STP_E2E_AUTH=1 STP_REPORT_IN_STACK=1
  exec "$SOURCE_DIR/tests/e2e/run_with_stack.sh" "$BUILD_DIR" "$0" "$BUILD_DIR" "$SOURCE_DIR"
fi

# ---- inside the stack: STP_ADDRESS and STP_API_KEY are set
export STP_PLAINTEXT=true
stpctl() { "$BUILD_DIR/tools/stpctl/stpctl" "$@"; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

stpctl countries load "$SOURCE_DIR/tests/e2e/fixtures/countries.csv"
org() { stpctl --json orgs create "$@" | json_field '["name"]'; }
tech=$(org --name "Shenzhen Science Park Development" --type stp-operator --country CN \
  --roles technology-partner --avenues green-growth,e-commerce,agriculture)
dfi=$(org --name "African Development Fund" --type dfi --roles financier \
  --avenues green-growth,agriculture --capacity 50000000)
mnc=$(org --name "Siemens Energy" --type multinational --country DE --roles triangular-partner \
  --avenues green-growth,e-manufacturing)
uni=$(org --name "Cairo University" --type academic --country EG --roles research-partner \
  --avenues public-health,agriculture --iasp)

n=0
project() {  # project HOST AVENUES PARTICIPANTS [more flags]
  local host=$1 avenues=$2 participants=$3
  shift 3
  n=$((n + 1))
  stpctl projects create --title "Report project $n ($host)" --host-country "$host" \
    --avenues "$avenues" --participants "$participants" "$@" >/dev/null
}
project EG green-growth "$tech:technology-partner:lead,$mnc:triangular-partner,$dfi:financier" \
  --budget 12000000 --stage financed --model triangular-mnc
project EG agriculture "$tech:technology-partner:lead,$uni:research-partner" --stage approved
project EG public-health "$uni:research-partner:lead" --stage proposed
project ZA e-commerce "$tech:technology-partner:lead" --stage implementation
project ZA green-growth "$tech:technology-partner:lead,$dfi:financier" --budget 3000000
project KE agriculture,green-growth "$tech:technology-partner:lead,$dfi:financier,$mnc:triangular-partner"
project NG e-manufacturing "$mnc:technology-partner:lead" --stage proposed
project ET agriculture "$mnc:technology-partner:lead" --stage cancelled
project CN e-commerce "$tech:technology-partner:lead" --stage completed

# Scores follow events: wait until every project has one.
for _ in $(seq 1 100); do
  scored=$(stpctl --json rank --limit 1 | json_field '.get("totalSize", 0)')
  [[ $scored -ge $n ]] && break
  sleep 0.2
done
if [[ $scored -lt $n ]]; then
  echo "html_report_test: only $scored of $n projects were scored" >&2
  exit 1
fi

top=5
stpctl portfolio --by country --top "$top" --html "$WORK/report.html"
# What the charts must show, from the API's own answers.
stpctl --json portfolio --by country >"$WORK/by-country.json"
stpctl --json portfolio --by avenue >"$WORK/by-avenue.json"
python3 - "$WORK" "$top" "$n" <<'PY'
import json, sys
work, top, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def segments(path):
    groups = json.load(open(path)).get("groups", [])
    return groups, sum(1 for g in groups for t in "abcd" if g.get("tiers", {}).get(t, 0) > 0)
countries, country_bars = segments(f"{work}/by-country.json")
_, avenue_bars = segments(f"{work}/by-avenue.json")
json.dump({"countryBars": country_bars, "avenueBars": avenue_bars,
           "countries": len(countries), "topProjects": min(top, n)},
          open(f"{work}/expected.json", "w"))
PY
cat "$WORK/expected.json"
echo
node "$REPORT_DIR/check_report.js" "$WORK/report.html" "$WORK/expected.json" \
  ${STP_REPORT_SCREENSHOT:+"$STP_REPORT_SCREENSHOT"}
