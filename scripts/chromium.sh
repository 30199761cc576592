#!/usr/bin/env bash
# Installs Debian's Chromium when it is missing: the headless browser the console's tests drive
# with playwright-core (never `playwright install`, which downloads a browser). Never starts it
# (each test starts its own with a fresh profile).
# Usage: scripts/chromium.sh ensure | check      (check: exit 1 and say what is missing)
set -euo pipefail
packages=(chromium)

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
  [ -z "$m" ] || { echo "chromium: missing Debian packages: $m (run scripts/chromium.sh ensure as root)" >&2; exit 1; }
}

ensure() {
  local m
  m=$(missing)
  [ -n "$m" ] || return 0
  echo "chromium: installing $m from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  # shellcheck disable=SC2086
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $m >&2
}

"${1:-ensure}"
