#!/usr/bin/env bash
# Installs MIT Kerberos from Debian when it is missing: the KDC and kadmin.local the gateway's
# tests run a throwaway realm with, kinit/klist, and the headers the `kerberos` npm package
# builds against. Never starts a daemon (each test starts its own KDC on loopback).
# Usage: scripts/kerberos.sh ensure | check      (check: exit 1 and say what is missing)
set -euo pipefail
packages=(krb5-kdc krb5-admin-server krb5-user libkrb5-dev)

what=kerberos
script=scripts/kerberos.sh
# shellcheck source=scripts/debian-packages.sh
source "$(dirname "$0")/debian-packages.sh"

"${1:-ensure}"
