#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan + UBSan) and runs each for
# SECONDS (default 600). New inputs go to build-fuzz/corpus/<target>; the
# committed seeds in tests/fuzz/corpus/<target> are read, never written.
#   bash scripts/fuzz.sh [SECONDS|smoke] [TARGET...]
# `smoke` (the ctest fuzz_smoke) runs a fixed number of inputs per target,
# the same inputs on every machine and every run: see below.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors config checkpoint image)
if ! command -v clang++-14 >/dev/null; then
  echo "fuzz: clang++-14 not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 77
fi
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# A smoke run is a regression test, so it must not depend on timing: a fixed
# seed, a fresh corpus folder, a fixed number of inputs per target (about 20 s
# each here), no corpus reloads and no comparison tracing (-use_cmp records
# operand values, pointers among them, so with it two runs of the same seed
# part ways after a few thousand inputs). Long runs explore with all of it on
# and keep what they find.
declare -A smoke_runs=([safetensors]=8000 [config]=120000 [checkpoint]=15000 [image]=100000)
seed=0
corpus=build-fuzz/corpus
artifacts=build-fuzz/artifacts
limit=(-max_total_time="$secs")
if [ "$secs" = smoke ]; then
  seed=1
  corpus=build-fuzz/smoke-corpus
  artifacts=build-fuzz/smoke-artifacts  # this run's findings only; a long run's stay
  rm -rf "$corpus" "$artifacts"
fi
for t in "${targets[@]}"; do
  mkdir -p "$corpus/$t" "$artifacts/$t"
  if [ "$secs" = smoke ]; then
    limit=(-runs="${smoke_runs[$t]}" -max_total_time=300 -reload=0 -use_cmp=0)
    echo "== fuzz_$t: ${smoke_runs[$t]} inputs (seed $seed)"
  else
    echo "== fuzz_$t for ${secs}s (seed $seed)"
  fi
  build-fuzz/bin/fuzz_$t -seed="$seed" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t/" "$corpus/$t" "tests/fuzz/corpus/$t" 2>&1 |
    grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)|stat::|ERROR|SUMMARY|Test unit written" || true
  if compgen -G "$artifacts/$t/*-*" >/dev/null; then  # crash-, leak-, timeout-, oom-
    echo "fuzz_$t: FAILED, inputs in $artifacts/$t/" >&2
    exit 1
  fi
done
echo "fuzz: all targets clean"
