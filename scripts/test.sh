#!/usr/bin/env bash
# The one test command (README: `npm test`): bootstrap, type-check and build, then every suite.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/setup.sh"
exec pnpm exec vitest run "$@"
