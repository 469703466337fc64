#!/usr/bin/env bash
# Run a command with the real parts up: a Docker Engine (started only when none answers) and
# GitHub's example payloads. A dockerd this script started is stopped again by its pid.
# Used by `make test` (local/test.sh) and `make bench` (bench/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tahobuddy
dockerd_pid=$(local/docker-up.sh)
cleanup() { if [ -n "$dockerd_pid" ]; then kill "$dockerd_pid" 2>/dev/null || true; wait "$dockerd_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT
local/fixtures.sh
"$@"
