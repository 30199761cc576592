#!/usr/bin/env bash
# Bootstraps the pinned pnpm (into .tools/, no root needed), installs the workspace from the
# lockfile and builds it. Sourced by scripts/test.sh and scripts/demo.sh; safe to run again.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PNPM_VERSION=12.4.2
export PNPM_CONFIG_MANAGE_PACKAGE_MANAGER_VERSIONS=false
if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  if [ "$("$root/.tools/node_modules/.bin/pnpm" --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
    echo "setup: installing pnpm $PNPM_VERSION into .tools/" >&2
    npm install --silent --no-audit --no-fund --prefix "$root/.tools" "pnpm@$PNPM_VERSION" >&2
  fi
  export PATH="$root/.tools/node_modules/.bin:$PATH"
fi
cd "$root"
# The gateway's `kerberos` package builds from source (node-gyp): it needs libkrb5-dev, and Node's
# own headers from /usr/include/node, since node-gyp cannot download them here.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  bash "$root/scripts/kerberos.sh" ensure
  # The store tests start a throwaway PostgreSQL cluster (Debian's server binaries).
  bash "$root/scripts/postgres.sh" ensure
fi
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
  export npm_config_nodedir=/usr
fi
if [ -n "${CI:-}" ] || [ ! -d node_modules/.pnpm ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  pnpm install --frozen-lockfile --reporter=append-only >&2
fi
pnpm exec tsc -b >&2
