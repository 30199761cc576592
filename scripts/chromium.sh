#!/usr/bin/env bash
# Installs Debian's Chromium when it is missing: the headless browser the console's tests drive
# with playwright-core (never `playwright install`, which downloads a browser). Never starts it
# (each test starts its own with a fresh profile).
# Usage: scripts/chromium.sh ensure | check      (check: exit 1 and say what is missing)
set -euo pipefail
packages=(chromium)

what=chromium
script=scripts/chromium.sh
# shellcheck source=scripts/debian-packages.sh
source "$(dirname "$0")/debian-packages.sh"

"${1:-ensure}"
