#!/usr/bin/env bash
# Makes sure `redis-server` is available for the storage-redis tests (which start their own
# throwaway servers on free ports, unless REDIS_URL points at one).
# Idempotent: does nothing when redis-server is already on PATH. Otherwise installs it with
# apt-get (non-interactive; needs root or sudo).
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
    echo "redis.sh: $(redis-server --version | head -n1)"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "redis.sh: redis-server is not installed and apt-get is unavailable; install Redis by hand" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "redis.sh: need root (or sudo) to run apt-get install -y redis-server" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "redis.sh: installing redis-server with apt-get"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null

if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis.sh: apt-get finished but redis-server is still not on PATH" >&2
    exit 1
fi
echo "redis.sh: $(redis-server --version | head -n1)"
