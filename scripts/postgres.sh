#!/usr/bin/env bash
# Installs Debian's PostgreSQL server when it is missing: initdb, pg_ctl and postgres, with which
# the store tests start a throwaway cluster on a loopback port in a temp dir. Never starts a daemon
# and never creates the Debian default cluster's service (each test starts and removes its own).
# Usage: scripts/postgres.sh ensure | check      (check: exit 1 and say what is missing)
set -euo pipefail
packages=(postgresql)

missing() {
  local p out=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || out+=("$p")
  done
  echo "${out[*]}"
}

check() {
  local m
  m=$(missing)
  [ -z "$m" ] || { echo "postgres: missing Debian packages: $m (run scripts/postgres.sh ensure as root)" >&2; exit 1; }
}

ensure() {
  local m
  m=$(missing)
  [ -n "$m" ] || return 0
  echo "postgres: installing $m from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  # shellcheck disable=SC2086
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $m >&2
}

"${1:-ensure}"
