#!/usr/bin/env bash
# Instructions per turn of botcore, counted by callgrind: a number that does not move with the
# machine's load, for comparing two versions of the turn path.
#
#   scripts/callgrind.sh [SCENARIO] [TURNS]
#
# SCENARIO (default `echo`):
#   echo      echo turns through botcore alone (`turn-bench ... core-only`: a counting
#             connector and in-memory storage, on a current-thread runtime)
#   metrics   the same with a Prometheus recorder installed (`turn-bench ... --metrics`)
#
# Builds turn-bench (examples/src/bin/turn-bench.rs) in release, runs it under
# `valgrind --tool=callgrind` for TURNS and 2×TURNS turns (default 20000 and 40000, over 1000
# conversations) and prints
#
#   instructions per turn = (Ir(2×TURNS) − Ir(TURNS)) / TURNS
#
# so that start-up, the runtime and the first turn of every conversation cancel out.
# Needs valgrind (`apt-get install valgrind`). The callgrind files are kept in a temporary
# directory, printed at the end, for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."

scenario=${1:-echo}
turns=${2:-20000}
convs=1000
case "$scenario" in
    echo) extra=() ;;
    metrics) extra=(--metrics) ;;
    *)
        echo "usage: scripts/callgrind.sh [echo|metrics] [TURNS]" >&2
        exit 2
        ;;
esac
if ! [[ "$turns" =~ ^[0-9]+$ ]] || [ "$turns" -lt "$convs" ]; then
    echo "callgrind.sh: TURNS must be a number of at least $convs" >&2
    exit 2
fi
if ! command -v valgrind >/dev/null 2>&1; then
    echo "callgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2
    exit 1
fi

cargo build --release --locked -p examples --bin turn-bench >&2
bin="${CARGO_TARGET_DIR:-target}/release/turn-bench"
out=$(mktemp -d "${TMPDIR:-/tmp}/callgrind.XXXXXX")

# Total instructions (Ir) of one run of `n` turns.
instructions() {
    local n=$1 file="$out/callgrind.$scenario.$1"
    valgrind --tool=callgrind --callgrind-out-file="$file" \
        "$bin" "$n" "$convs" core-only "${extra[@]}" >"$out/stdout.$n" 2>"$out/valgrind.$n"
    awk '/^(summary|totals):/ { print $2; exit }' "$file"
}

small=$(instructions "$turns")
large=$(instructions $((2 * turns)))
per_turn=$(((large - small) / turns))
echo "scenario: $scenario"
echo "Ir($turns turns): $small"
echo "Ir($((2 * turns)) turns): $large"
echo "instructions per turn: $per_turn"
echo "callgrind files: $out"
