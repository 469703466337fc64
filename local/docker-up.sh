#!/usr/bin/env bash
# Make sure a Docker Engine answers. Prints the pid of a dockerd it started (nothing if one
# was already running), so the caller can stop exactly what it started.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
command -v dockerd >/dev/null 2>&1 || { echo "dockerd missing: run local/install-system.sh" >&2; exit 1; }
log="${TAHOBUDDY_HOME:-.tahobuddy}/dockerd.log"
mkdir -p "$(dirname "$log")"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO dockerd >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then echo "$pid"; exit 0; fi
  kill -0 "$pid" 2>/dev/null || { echo "dockerd exited; see $log" >&2; exit 1; }
  sleep 0.5
done
echo "dockerd did not answer within 30 s; see $log" >&2
kill "$pid" 2>/dev/null || true
exit 1
