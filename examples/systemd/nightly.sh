#!/usr/bin/env bash
# One night: finish last night's run if it was cut short (crash, reboot), run the plan, write the
# reports. Exits with `testbed run`'s status (0 clean, 1 regressions, 3 incomplete, 2 config error).
set -uo pipefail
cd "${TESTBED_CHECKOUT:-$(dirname "$0")/../..}"
TESTBED="${TESTBED:-.venv/bin/testbed}"
PLAN="${TESTBED_PLAN:-plans/nightly.yaml}"
OUT="${TESTBED_REPORTS:-${TESTBED_HOME:-$HOME/.testbed}/reports}"
mkdir -p "$OUT"

# A run of this plan still marked running/interrupted: complete its missing cells first.
last=$("$TESTBED" run --list | awk -v plan="$(basename "$PLAN" .yaml)" '$2 == plan {print $1, $3; exit}')
if [ -n "$last" ] && [ "${last#* }" != "done" ]; then
    echo "resuming ${last%% *} (${last#* })"
    "$TESTBED" run --resume "${last%% *}" >/dev/null || true
fi

"$TESTBED" run --plan "$PLAN" --json > "$OUT/last-run.json"
status=$?
run_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run_id"])' "$OUT/last-run.json" 2>/dev/null)
if [ -n "$run_id" ]; then
    "$TESTBED" report "$run_id" --html "$OUT/$run_id.html" --junit "$OUT/$run_id.xml" --csv "$OUT/$run_id.csv"
    ln -sfn "$run_id.html" "$OUT/latest.html"
    "$TESTBED" report "$run_id"   # the verdict table, into the journal
fi
exit $status
