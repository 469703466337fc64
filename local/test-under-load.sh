#!/usr/bin/env bash
# `make test-under-load`: every test (local/test.sh) with `stress-ng --cpu 2` beside it for the whole run,
# as on a shared machine or a busy CI runner: a test that holds only on an idle machine fails here.
# stress-ng is bounded by its own timeout (STRESS_TIMEOUT, default 60m) and stopped by its pid at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v stress-ng >/dev/null || { echo "stress-ng is missing: local/install-system.sh installs it" >&2; exit 1; }
stress-ng --cpu 2 --timeout "${STRESS_TIMEOUT:-60m}" --quiet &
stress_pid=$!
stop_stress() {
  kill "$stress_pid" 2>/dev/null || true   # stress-ng stops its workers when told
  wait "$stress_pid" 2>/dev/null || true
}
trap stop_stress EXIT
echo "stress-ng --cpu 2 running beside the suite (pid $stress_pid)"
local/test.sh "$@"
