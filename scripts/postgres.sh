#!/usr/bin/env bash
# Installs Debian's PostgreSQL server when it is missing: initdb, pg_ctl and postgres, with which
# the store tests start a throwaway cluster on a loopback port in a temp dir (each test starts and
# removes its own; the Debian default cluster is not used).
# Usage: scripts/postgres.sh ensure | check      (check: exit 1 and say what is missing)
set -euo pipefail
packages=(postgresql)

what=postgres
script=scripts/postgres.sh
# shellcheck source=scripts/debian-packages.sh
source "$(dirname "$0")/debian-packages.sh"

"${1:-ensure}"
