#!/usr/bin/env bash
# Reproduces the measurements of SCALING.md, from the repository root:
#
#   scripts/scaling/run.sh            # everything below
#   PARTS="multi" scripts/scaling/run.sh   # only the one/two-process runs
#
# 1. own stores on free ports (scripts/scaling/stores.sh: redis-server --save "" --appendonly no,
#    PostgreSQL 15 via initdb + pg_ctl with fsync = off);
# 2. PARTS contains "harness": the shared harness, one process per target:
#      REPS=1 WORKLOADS="c50x200 profile50x201" SKIP_E2E=1 SKIP_PROACTIVE=1 \
#      TARGETS="trivial-rust botcore botcore-redis botcore-postgres" ../shared/bench/run_baselines.sh
# 3. PARTS contains "multi": scripts/scaling/multi.py on Redis and on PostgreSQL, for each
#    workload in WORKLOADS: 1 process + 1 driver, 1 process + 2 drivers, 2 processes + 2 drivers
#    (results appended to $OUT, default /tmp/botcore-scaling/multi.jsonl).
# 4. PARTS contains "durable": 1 process + 1 driver (c50x200) on Redis with --appendonly yes
#    --appendfsync everysec and on PostgreSQL with fsync = on, synchronous_commit on, then off.
# Wait until the machine is otherwise idle (no cargo/rustc running): it has 2 cores and the bots,
# the drivers and the stores share them.
set -euo pipefail
cd "$(dirname "$0")/../.."
PARTS=${PARTS:-"harness multi durable"}
WORKLOADS=${WORKLOADS:-"c50x200 profile50x201"}
OUT=${OUT:-/tmp/botcore-scaling/multi.jsonl}
S=scripts/scaling
mkdir -p "$(dirname "$OUT")"

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release -p examples --bin bench-bot
  (cd ../shared/bench/load && cargo build --release)
fi

trap '$S/stores.sh stop' EXIT
eval "$($S/stores.sh start)"
export REDIS_URL DATABASE_URL
echo "REDIS_URL=$REDIS_URL DATABASE_URL=$DATABASE_URL"

case " $PARTS " in *" harness "*)
  REPS=1 WORKLOADS="c50x200 profile50x201" SKIP_E2E=1 SKIP_PROACTIVE=1 SKIP_INSTALL=1 \
    TARGETS="trivial-rust botcore botcore-redis botcore-postgres" ../shared/bench/run_baselines.sh
  cat "${TMPDIR:-/tmp}/botcore-bench/latest/summary.md" ;;
esac

case " $PARTS " in *" multi "*)
  for store in redis postgres; do
    for w in $WORKLOADS; do
      for pd in "1 1" "1 2" "2 2"; do
        set -- $pd
        python3 $S/multi.py --store $store --procs "$1" --drivers "$2" --workload "$w" \
          --label "$store-${1}p${2}d-$w" --out "$OUT"
        sleep 1
      done
    done
  done ;;
esac

case " $PARTS " in *" durable "*)
  # the same 1 process + 1 driver run on durable stores: Redis with AOF (fsync every second),
  # PostgreSQL with fsync = on, full_page_writes = on, first synchronous_commit = on, then off
  $S/stores.sh stop
  eval "$(REDIS_EXTRA='--appendonly yes --appendfsync everysec' \
          PG_EXTRA=$'fsync = on\nfull_page_writes = on' $S/stores.sh start)"
  export REDIS_URL DATABASE_URL
  python3 $S/multi.py --store redis --procs 1 --drivers 1 --workload c50x200 --label redis-aof-everysec-1p1d-c50x200 --out "$OUT"
  python3 $S/multi.py --store postgres --procs 1 --drivers 1 --workload c50x200 --label pg-fsync-synccommit-on-1p1d-c50x200 --out "$OUT"
  psql "$DATABASE_URL" -qc "ALTER DATABASE postgres SET synchronous_commit = off"
  python3 $S/multi.py --store postgres --procs 1 --drivers 1 --workload c50x200 --label pg-fsync-synccommit-off-1p1d-c50x200 --out "$OUT" ;;
esac
