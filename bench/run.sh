#!/usr/bin/env bash
# `make bench`: the benchmarks, with the real parts up and a dockerd started for them stopped
# again by its pid (local/with-docker.sh).
set -euo pipefail
"$(dirname "$0")/../local/with-docker.sh" .venv/bin/python bench/realistic.py  # the multi-stage app with a dependency layer
cd "$(dirname "$0")/.."
exec local/with-docker.sh sh -c '.venv/bin/python bench/webhook.py && .venv/bin/python bench/deploy.py && .venv/bin/python bench/flood.py'
