#!/usr/bin/env bash
# Installs (Debian's docker.io) and starts a Docker engine if none answers, and builds the
# registry-free base image `local/node-min` from this machine's own Node binary
# (shared/notes/docker-on-these-machines.md: no image registry is reachable here).
# Usage: scripts/docker-engine.sh start | stop     (start prints nothing but progress on stderr)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pidfile="$root/.sluice/dockerd.pid"
mkdir -p "$root/.sluice"

start() {
  if ! docker info >/dev/null 2>&1; then
    if ! command -v dockerd >/dev/null 2>&1; then
      echo "docker: installing docker.io from Debian" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
      apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends docker.io iptables >&2
    fi
    echo "docker: starting dockerd" >&2
    dockerd >"$root/.sluice/dockerd.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
    docker info >/dev/null 2>&1 || { echo "docker: engine did not start; see .sluice/dockerd.log" >&2; exit 1; }
  fi
  # The kerberos addon (the gateway commands) dlopens MIT Kerberos' GSSAPI library when the CLI
  # starts: the base carries it, and what it links, when this machine has it (an older base without it is rebuilt).
  gss=$(ldconfig -p | grep -o '/[^ ]*libgssapi_krb5\.so\.2$' | head -1 || true)
  if ! docker image inspect local/node-min:latest >/dev/null 2>&1 ||
    { [ -n "$gss" ] && ! docker run --rm --entrypoint node local/node-min:latest -e "require('fs').accessSync('$gss')" >/dev/null 2>&1; }; then
    echo "docker: building local/node-min from $(command -v node)" >&2
    local dir
    dir=$(mktemp -d)
    mkdir -p "$dir/usr/bin" "$dir/tmp" "$dir/etc"
    chmod 1777 "$dir/tmp"
    cp "$(readlink -f "$(command -v node)")" "$dir/usr/bin/node"
    for lib in $(ldd "$(command -v node)" | grep -o '/[^ ]*') ${gss:+$gss $(ldd "$gss" | grep -o '/[^ ]*')}; do
      mkdir -p "$dir$(dirname "$lib")"
      cp -L "$lib" "$dir$lib"
    done
    echo 'root:x:0:0:root:/root:/usr/bin/node' >"$dir/etc/passwd"
    echo 'sluice:x:1000:1000:sluice:/tmp:/usr/bin/node' >>"$dir/etc/passwd"
    tar -C "$dir" -c . | docker import -c 'ENV PATH=/usr/bin' - local/node-min:latest >/dev/null
    rm -rf "$dir"
  fi
}

stop() {
  # Whatever the tests left behind (they clean up after themselves; this is for a run cut short):
  # testcontainers' containers and networks, exited docker-launcher workers, the test images.
  docker rm -f $(docker ps -aq --filter label=org.testcontainers=true 2>/dev/null) >/dev/null 2>&1 || true
  docker rm -f $(docker ps -aq --filter label=sluice.launcher=docker --filter status=exited 2>/dev/null) >/dev/null 2>&1 || true
  # Swarm: the swarm launcher's services, secrets and networks, and the swarm tests' own services.
  docker service rm $(docker service ls -q --filter label=sluice.launcher=swarm 2>/dev/null) $(docker service ls -q --filter label=sluice.test=1 2>/dev/null) >/dev/null 2>&1 || true
  docker secret rm $(docker secret ls -q --filter label=sluice.launcher=swarm 2>/dev/null) >/dev/null 2>&1 || true
  docker network rm $(docker network ls -q --filter label=sluice.launcher=swarm 2>/dev/null) >/dev/null 2>&1 || true
  docker network rm $(docker network ls -q --filter label=org.testcontainers=true 2>/dev/null) >/dev/null 2>&1 || true
  docker rmi -f $(docker images -q 'sluice-test' 2>/dev/null) >/dev/null 2>&1 || true
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
}

"${1:-start}"
