#!/usr/bin/env bash
# Run a command with the real parts up: a Docker Engine (started only when none answers), GitHub's
# example payloads and the database images (local/db_images.py). A dockerd this script started is
# stopped again by its pid.
# Used by `make test` (local/test.sh) and `make bench` (bench/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tahobuddy
dockerd_pid=$(local/docker-up.sh)
# dockerd is not this shell's child (docker-up.sh started it), so `wait` cannot see it end: poll its pid
# (bounded), or the next start finds its pid file and refuses to start.
cleanup() {
  [ -n "$dockerd_pid" ] || return 0
  kill "$dockerd_pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$dockerd_pid" 2>/dev/null || return 0; sleep 0.5; done
  echo "dockerd ($dockerd_pid) still running 30 s after SIGTERM: killing it" >&2
  kill -9 "$dockerd_pid" 2>/dev/null || true
}
trap cleanup EXIT
local/fixtures.sh
# real database servers for the tests: the configured images, or where none can be pulled the ones
# local/db-images.sh makes here from Debian (once per engine)
TAHOBUDDY_DB_IMAGES=$(PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" .venv/bin/python -m local.db_images)
export TAHOBUDDY_DB_IMAGES
"$@"
