#!/usr/bin/env bash
# The one demo command (README: `npm run demo`): bootstrap and build, then the word-count demo.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/setup.sh"
exec node "$root/packages/cli/bin/sluice.js" demo "$@"
