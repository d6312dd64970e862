#!/usr/bin/env bash
# The whole test suite built with AddressSanitizer + UBSan (CMake preset "asan").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake --preset asan >/dev/null
cmake --build --preset asan
ctest --preset asan -j "${JOBS:-2}" --timeout 1500 -E fuzz_smoke
