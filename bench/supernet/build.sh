#!/bin/sh
# Builds bench/supernet/bench_supernet against the static libraries of a nas
# build directory (default build-supernet, Release), since bench/ is not part
# of the CMake project.  usage: bench/supernet/build.sh [BUILD_DIR]
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-supernet}
cmake --build "$build" --target nas -j2 >/dev/null
cc -std=c11 -O2 -Wall -Wextra -Werror -fopenmp -I"$root" "$root/bench/supernet/bench_supernet.c" \
   "$build/libnas_evaluator.a" "$build/libnas_searchspace.a" "$build/libnas_models.a" "$build/libnas_core.a" \
   -ldnnl -lcjson -lz -lm -o "$build/bench_supernet"
echo "$build/bench_supernet"
