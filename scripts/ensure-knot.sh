#!/usr/bin/env bash
# Make sure Knot DNS (the benchmarks' loopback authoritative server) is installed.
# The benchmarks start and stop their own knotd on 127.0.0.1; nothing runs as a service.
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v knotd >/dev/null 2>&1 && [ ! -x /usr/sbin/knotd ]; then
  echo "Knot DNS is not installed: installing Debian's knot"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends knot >/dev/null
fi
echo "Knot DNS ready: $(/usr/sbin/knotd --version 2>/dev/null || knotd --version)"
