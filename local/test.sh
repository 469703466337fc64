#!/usr/bin/env bash
# `make test`: every test, in random order (pytest-randomly prints its seed; -p no:randomly turns
# it off), with the 15 slowest shown, the real parts up for the run (local/with-docker.sh).
# Two pytest-xdist workers (TAHOBUDDY_TEST_WORKERS, or `-n 0` for one process): most of the suite waits
# on dockerd, agents, leases and quiet periods, not on the CPU, so two halve the wall time on 2 cores.
# Each worker has real parts of its own (moto server, API, Caddy, agents: tests/conftest.py); a test
# that must not share the machine with another is in an xdist_group (`--dist loadgroup`).
set -euo pipefail
cd "$(dirname "$0")/.."
exec local/with-docker.sh .venv/bin/python -m pytest -n "${TAHOBUDDY_TEST_WORKERS:-2}" --dist loadgroup \
  --durations=15 "$@"
