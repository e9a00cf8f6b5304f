#!/usr/bin/env bash
# Configures and builds nas into build/ (or $NAS_BUILD_DIR) in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${NAS_BUILD_DIR:-build}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
