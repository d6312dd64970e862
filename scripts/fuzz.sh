#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan + UBSan) and runs each for
# SECONDS (default 600). New inputs go to build-fuzz/corpus/<target>; the
# committed seeds in tests/fuzz/corpus/<target> are read, never written.
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
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
# Short runs (the ctest smoke run) are repeatable: a fixed seed and a fresh
# corpus folder, so every machine walks the same inputs in the same order and
# differs only in how far it gets in the time. Long runs explore and keep
# what they find.
seed=0
corpus=build-fuzz/corpus
if [ "$secs" -le 120 ]; then
  seed=1
  corpus=build-fuzz/smoke-corpus
  rm -rf "$corpus"
fi
for t in "${targets[@]}"; do
  mkdir -p "$corpus/$t" "build-fuzz/artifacts/$t"
  echo "== fuzz_$t for ${secs}s (seed $seed)"
  build-fuzz/bin/fuzz_$t -seed="$seed" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="build-fuzz/artifacts/$t/" "$corpus/$t" "tests/fuzz/corpus/$t" 2>&1 |
    grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)|stat::|ERROR|SUMMARY|Test unit written" || true
  if compgen -G "build-fuzz/artifacts/$t/*-*" >/dev/null; then  # crash-, leak-, timeout-, oom-
    echo "fuzz_$t: FAILED, inputs in build-fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
echo "fuzz: all targets clean"
