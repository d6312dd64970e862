#!/usr/bin/env bash
# The whole test suite built with AddressSanitizer + UBSan (CMake preset "asan").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake --preset asan >/dev/null
cmake --build --preset asan
# Not repeated here: the fuzz smoke run (its own clang build) and the option
# sweep and faithfulness evaluation, which run the same code paths many times
# over and already ran in the normal suite.
ctest --preset asan -j "${JOBS:-2}" --timeout 1500 -E '^(fuzz_smoke|OptionSweep\..*|BundledModel\.AttributionBeatsRandomOnFaithfulness)$'

