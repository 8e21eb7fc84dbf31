#!/usr/bin/env bash
# Throwaway stores for the SCALING.md measurements, on free 127.0.0.1 ports, never the system's
# default instances.
#
#   scripts/scaling/stores.sh start   # prints REDIS_URL=... DATABASE_URL=... (eval-able)
#   scripts/scaling/stores.sh stop
#
# Redis: redis-server --save "" --appendonly no (no persistence at all: the throughput setup).
#   REDIS_EXTRA='--appendonly yes --appendfsync everysec' adds AOF instead.
# PostgreSQL: initdb + pg_ctl as the `postgres` OS user (runuser) when run as root, in a fresh
#   data directory, with the settings of storage-postgres/tests/support/mod.rs (fsync = off,
#   full_page_writes = off, shared_buffers = 16MB, TCP on 127.0.0.1 only). PG_EXTRA lines are
#   appended to postgresql.conf (e.g. PG_EXTRA=$'fsync = on\nsynchronous_commit = on').
set -euo pipefail
STATE=${SCALING_STATE:-/tmp/botcore-scaling}
mkdir -p "$STATE"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_bin() {
  for d in "${PG_BIN:-}" /usr/lib/postgresql/*/bin; do
    [ -n "$d" ] && [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  dirname "$(command -v initdb)"
}

start() {
  local rport pport bin dir
  rport=$(free_port)
  # shellcheck disable=SC2086
  redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no ${REDIS_EXTRA:-} \
    --dir "$STATE" --daemonize yes --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log"
  for _ in $(seq 1 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "$rport" > "$STATE/redis.port"

  bin=$(pg_bin)
  dir=$STATE/pg
  rm -rf "$dir"; mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync >"$STATE/initdb.log" 2>&1
  printf "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\nfsync = off\nfull_page_writes = off\nshared_buffers = 16MB\nmax_connections = 60\nlog_min_messages = warning\n%s\n" \
    "${PG_EXTRA:-}" | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
  pport=$(free_port)
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $pport" -w -t 60 start >/dev/null
  echo "$pport" > "$STATE/pg.port"
  echo "REDIS_URL=redis://127.0.0.1:$rport/"
  echo "DATABASE_URL=postgres://postgres@127.0.0.1:$pport/postgres"
}

stop() {
  [ -f "$STATE/redis.pid" ] && kill "$(cat "$STATE/redis.pid")" 2>/dev/null || true
  rm -f "$STATE/redis.pid"
  if [ -d "$STATE/pg/data" ]; then
    as_pg "$(pg_bin)/pg_ctl" -D "$STATE/pg/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$STATE/pg"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
