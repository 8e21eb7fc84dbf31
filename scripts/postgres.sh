#!/usr/bin/env bash
# Makes sure the PostgreSQL server programs (`initdb`, `pg_ctl`) are available for the
# storage-postgres tests, which start their own throwaway servers on free 127.0.0.1 ports
# (unless DATABASE_URL points at one). Debian keeps them in /usr/lib/postgresql/<version>/bin,
# off PATH; the tests look there, on PATH and in PG_BIN.
# Idempotent: does nothing when they are already installed. Otherwise installs Debian's
# `postgresql` package with apt-get (non-interactive; needs root or sudo), and nothing else.
set -euo pipefail

find_bin() {
    local dir
    if [ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ]; then
        echo "$PG_BIN"
        return 0
    fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return 0
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

if dir=$(find_bin); then
    echo "postgres.sh: $("$dir/pg_ctl" --version) in $dir"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "postgres.sh: initdb/pg_ctl not found and apt-get is unavailable; install PostgreSQL by hand (or set PG_BIN)" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "postgres.sh: need root (or sudo) to run apt-get install -y postgresql" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "postgres.sh: installing postgresql with apt-get"
$SUDO apt-get update -qq
# (Debian's package may create and start its own "main" cluster on port 5432; the tests never
# use it.)
$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null

if ! dir=$(find_bin); then
    echo "postgres.sh: apt-get finished but initdb/pg_ctl are still missing" >&2
    exit 1
fi
echo "postgres.sh: $("$dir/pg_ctl" --version) in $dir"
