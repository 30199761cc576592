#!/usr/bin/env bash
# The one benchmark command (`pnpm bench [--quick] [--only PATTERN]`): bootstrap and build like
# scripts/test.sh, then run the suite. Table on stdout, progress on stderr, results in
# bench/results.json and bench/results.svg.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/setup.sh"
exec node "$root/bench/dist/run.js" "$@"
