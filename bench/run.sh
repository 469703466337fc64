#!/usr/bin/env bash
# `make bench`: real parts up (Docker Engine when none answers, GitHub's example payloads), both
# benchmarks run, and a dockerd this script started stopped again by its pid (as local/test.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tahobuddy
dockerd_pid=$(local/docker-up.sh)
cleanup() { if [ -n "$dockerd_pid" ]; then kill "$dockerd_pid" 2>/dev/null || true; wait "$dockerd_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT
local/fixtures.sh
.venv/bin/python bench/webhook.py
.venv/bin/python bench/deploy.py
.venv/bin/python bench/flood.py
