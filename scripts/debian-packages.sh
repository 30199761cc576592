# Sourced by scripts/kerberos.sh, scripts/chromium.sh and scripts/postgres.sh: `check` and `ensure` for a list of
# Debian packages. Before sourcing, set `what` (the name in messages), `script` (the caller's
# path, for the hint) and the array `packages`.

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
  [ -z "$m" ] || { echo "$what: missing Debian packages: $m (run $script ensure as root)" >&2; exit 1; }
}

ensure() {
  local m
  m=$(missing)
  [ -n "$m" ] || return 0
  echo "$what: installing $m from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  # shellcheck disable=SC2086
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $m >&2
}
