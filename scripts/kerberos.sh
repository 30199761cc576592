#!/usr/bin/env bash
# Installs MIT Kerberos from Debian when it is missing: the KDC and kadmin.local the gateway's
# tests run a throwaway realm with, kinit/klist, and the headers the `kerberos` npm package
# builds against. Never starts a daemon (each test starts its own KDC on loopback).
# Usage: scripts/kerberos.sh ensure | check      (check: exit 1 and say what is missing)
set -euo pipefail
packages=(krb5-kdc krb5-admin-server krb5-user libkrb5-dev)

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
  [ -z "$m" ] || { echo "kerberos: missing Debian packages: $m (run scripts/kerberos.sh ensure as root)" >&2; exit 1; }
}

ensure() {
  local m
  m=$(missing)
  [ -n "$m" ] || return 0
  echo "kerberos: installing $m from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  # shellcheck disable=SC2086
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $m >&2
}

"${1:-ensure}"
