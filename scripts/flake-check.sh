#!/usr/bin/env bash
# Flake check: the tests that wait for other threads or processes (GUI,
# stream, CLI), REPEAT times each (default 20, ctest --repeat until-fail)
# while every core is kept busy by a background load, then the whole suite
# ROUNDS times in a row (default 3). Passes only if every run passes.
#   bash scripts/flake-check.sh            (about 40 minutes on 2 cores)
#   REPEAT=5 ROUNDS=1 bash scripts/flake-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh
repeat=${REPEAT:-20}
rounds=${ROUNDS:-3}
# The tests that wait for threads and processes. The bad-input corpus and the
# option sweep (hundreds of sequential runs, no waiting on threads) run in
# the whole-suite rounds.
pattern=${FLAKE_TESTS:-'^(Gui|Stream|StageStats|Cli|Eval)\.'}
start=$(date +%s)

load=()
stop_load() { [ ${#load[@]} -eq 0 ] || kill "${load[@]}" 2>/dev/null || true; load=(); }
trap stop_load EXIT
for _ in $(seq "$(nproc)"); do
  ( while :; do :; done ) &
  load+=($!)
done
echo "flake-check: ${#load[@]} busy loops running; threaded tests x$repeat"
cd build
n=$(ctest -N -R "$pattern" | awk '/Total Tests:/ {print $3}')
ctest -R "$pattern" --repeat "until-fail:$repeat" -j2 --timeout 900 --output-on-failure
stop_load
echo "flake-check: $n tests x $repeat under load passed after $(( $(date +%s) - start )) s"

for r in $(seq "$rounds"); do
  echo "flake-check: whole suite, round $r of $rounds"
  ctest -j2 --timeout 900 --output-on-failure
done
echo "flake-check: passed: $n threaded tests x $repeat under load, whole suite x $rounds, $(( $(date +%s) - start )) s"
