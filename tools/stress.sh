#!/usr/bin/env bash
# make test-stress: the whole suite RUNS times in a row (default 5) while
# BUSY busy loops (default 2, one per core here) keep every core occupied.
# Passes only if every run passes; prints one line per run and a summary.
# The busy loops are this script's own children, killed on any exit.
# Usage: tools/stress.sh [DENO] (default: deno on PATH)
set -uo pipefail
deno=${1:-deno}
runs=${RUNS:-5}
busy=${BUSY:-2}
loops=()
logs=$(mktemp -d "${TMPDIR:-/tmp}/booth-stress-XXXXXX")
cleanup() {
  for pid in "${loops[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  rm -rf "$logs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for ((i = 0; i < busy; i++)); do
  (while :; do :; done) &
  loops+=($!)
done
echo "test-stress: $runs runs of the whole suite, $busy busy loops on $(nproc) cores"

passed=0
for ((run = 1; run <= runs; run++)); do
  started=$(date +%s)
  "$deno" task test >"$logs/run" 2>&1
  code=$?
  seconds=$(($(date +%s) - started))
  counts=$(sed 's/\x1b\[[0-9;]*m//g' "$logs/run" | grep -Eo '[0-9]+ passed \| [0-9]+ failed' | tail -1)
  if [ "$code" -eq 0 ]; then
    passed=$((passed + 1))
    echo "run $run/$runs: ok (${counts:-no count}) in ${seconds} s"
  else
    echo "run $run/$runs: FAILED, exit $code (${counts:-no count}) in ${seconds} s; its failures:"
    sed 's/\x1b\[[0-9;]*m//g' "$logs/run" | sed -n '/ERRORS/,$p' | head -60 | sed 's/^/    /'
  fi
done

echo "test-stress: $passed/$runs runs passed under load"
[ "$passed" -eq "$runs" ]
