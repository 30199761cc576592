# Sourced by the scripts that install Debian packages a test suite needs (kerberos.sh,
# postgres.sh): set `name` and the `packages` array first, then call "${1:-ensure}".
#   check:  exit 1 and say which packages are missing
#   ensure: apt-get install the missing ones (as root)

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
  [ -z "$m" ] || { echo "$name: missing Debian packages: $m (run scripts/$name.sh ensure as root)" >&2; exit 1; }
}

ensure() {
  local m
  m=$(missing)
  [ -n "$m" ] || return 0
  echo "$name: installing $m from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  # shellcheck disable=SC2086
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $m >&2
}
