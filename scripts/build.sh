#!/usr/bin/env bash
# Configures and builds vitlens into build/ (Release, -j2 by default).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j "${JOBS:-2}"
