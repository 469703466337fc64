#!/usr/bin/env bash
# `make bench`: the benchmarks, with the real parts up and a dockerd started for them stopped
# again by its pid (local/with-docker.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
exec local/with-docker.sh sh -c '.venv/bin/python bench/aws_calls.py && .venv/bin/python bench/webhook.py \
    && .venv/bin/python bench/deploy.py && .venv/bin/python bench/realistic.py && .venv/bin/python bench/flood.py \
    && .venv/bin/python bench/scale.py && .venv/bin/python bench/swaps.py \
    && .venv/bin/python bench/db_backup.py && .venv/bin/python bench/watch.py && .venv/bin/python bench/app_output.py \
    && .venv/bin/python bench/images.py'
