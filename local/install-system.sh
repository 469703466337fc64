#!/usr/bin/env bash
# Install the Debian packages Tahobuddy's stack and tests use, only those missing.
# Safe to run again; needs root or sudo. Used by `make run` and `make test`.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have git || need+=(git)
have caddy || need+=(caddy)
have dockerd || need+=(docker.io)
have docker-registry || need+=(docker-registry)
have skopeo || need+=(skopeo)   # `tahobuddy promote` copies an image registry to registry
have webhook || need+=(webhook)
have busybox || need+=(busybox-static)
have debootstrap || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)  # local/db-images.sh's Debian root
have ip || need+=(iproute2)    # the dockerd fault test gives its own second engine a bridge
have node || need+=(nodejs)
have npm || need+=(npm)
have wrk || need+=(wrk)
have stress-ng || need+=(stress-ng)   # `make test-under-load` runs the suite beside it
have chromium || need+=(chromium)   # the dashboard's browser tests (Playwright drives it; no browser download)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing Debian packages: ${need[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
# the caddy package starts a system Caddy on :80 with its admin API on :2019; the stack runs its own
if [[ " ${need[*]} " == *" caddy "* ]] && have systemctl; then $SUDO systemctl disable --now caddy 2>/dev/null || true; fi
