#!/usr/bin/env bash
# The database images Tahobuddy's tests and `make run` use where no registry answers, made here from
# Debian bookworm packages: tahobuddy-local/postgres:15, tahobuddy-local/mariadb:10.11, tahobuddy-local/redis:7.
#
# Made once per Docker Engine and reused: a minimal bookworm root (debootstrap, `docker import`) becomes
# tahobuddy-local/bookworm:base, then one small Dockerfile per server (local/db-images/*) installs the
# server and an entrypoint that initialises the data directory from the official images' variables.
# An image whose recipe (its folder's files) has not changed is skipped; each step prints its seconds.
# Usage: local/db-images.sh [postgres|mariadb|redis ...]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
DOCKER=${DOCKER:-$(command -v /usr/bin/docker || command -v docker)}
BASE=tahobuddy-local/bookworm:base
MIRROR=${TAHOBUDDY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
declare -A TAG=([postgres]=tahobuddy-local/postgres:15 [mariadb]=tahobuddy-local/mariadb:10.11
                [redis]=tahobuddy-local/redis:7)
servers=("$@"); [ ${#servers[@]} -gt 0 ] || servers=(postgres mariadb redis)

# one builder at a time per machine: the engine (and so the images) is shared by every worktree
exec 9>"${TMPDIR:-/tmp}/tahobuddy-db-images.lock"
flock 9

now() { date +%s%N; }
took() { local ms=$(( ($(now) - $2) / 1000000 )); printf '%s: %d.%d s\n' "$1" $((ms / 1000)) $((ms % 1000 / 100)); }
recipe() { (cd "local/db-images/$1" && sha256sum Dockerfile *.sh) | sha256sum | cut -c1-16; }
label() { "$DOCKER" image inspect -f "{{ index .Config.Labels \"tahobuddy.recipe\" }}" "$1" 2>/dev/null || true; }

if ! "$DOCKER" image inspect "$BASE" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { echo "debootstrap missing: apt-get install debootstrap" >&2; exit 1; }
  start=$(now)
  root=$(mktemp -d "${TMPDIR:-/tmp}/tahobuddy-bookworm.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; exit 1; }
  # what Debian's own container image does: no docs, no kept .debs, no services started by a postinst
  printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n' \
    >"$root/etc/dpkg/dpkg.cfg.d/docker-minimal"
  echo 'APT::Keep-Downloaded-Packages "false";' >"$root/etc/apt/apt.conf.d/docker-clean"
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" && chmod +x "$root/usr/sbin/policy-rc.d"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | "$DOCKER" import -c 'CMD ["bash"]' - "$BASE" >/dev/null
  rm -rf "$root" "$root.log"; trap - EXIT
  took "$BASE (debootstrap + import)" "$start"
fi

for server in "${servers[@]}"; do
  tag=${TAG[$server]:?unknown server $server (postgres, mariadb, redis)}
  want=$(recipe "$server")
  if [ "$(label "$tag")" = "$want" ]; then echo "$tag: present"; continue; fi
  start=$(now)
  DOCKER_BUILDKIT=0 "$DOCKER" build -q --label "tahobuddy.recipe=$want" --build-arg "BASE=$BASE" \
    -t "$tag" "local/db-images/$server" >/dev/null
  took "$tag (build)" "$start"
done
