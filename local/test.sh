#!/usr/bin/env bash
# `make test`: real parts up (Docker Engine when none answers, GitHub's example payloads),
# every test run, and whatever this script started stopped again by its pid.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tahobuddy
dockerd_pid=$(local/docker-up.sh)
cleanup() { if [ -n "$dockerd_pid" ]; then kill "$dockerd_pid" 2>/dev/null || true; wait "$dockerd_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT
local/fixtures.sh
# random order (pytest-randomly prints its seed; -p no:randomly to turn it off), the 15 slowest shown
.venv/bin/python -m pytest --durations=15 "$@"
