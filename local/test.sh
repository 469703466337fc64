#!/usr/bin/env bash
# `make test`: every test, in random order (pytest-randomly prints its seed; -p no:randomly turns
# it off), with the 15 slowest shown, the real parts up for the run (local/with-docker.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
exec local/with-docker.sh .venv/bin/python -m pytest --durations=15 "$@"
