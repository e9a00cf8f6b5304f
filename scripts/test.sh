#!/usr/bin/env bash
# Builds and runs every test: the release build, then an AddressSanitizer +
# UndefinedBehaviorSanitizer build of the same suite, then each fuzz target
# for a short while. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh clang libclang-rt-14-dev
jobs=$(nproc)

echo "== release build"
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNAS_SANITIZE=ON -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== fuzz targets (libFuzzer, ${NAS_FUZZ_SECONDS:-30}s each)"
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DNAS_FUZZ=ON -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build build-fuzz -j"$jobs"
# fuzz_study's seeds: study databases the release build writes now (complete
# and failed trials), rather than binary files in the tree that would lag
# behind the schema
seeds=build-fuzz/seed-study
rm -rf "$seeds" && mkdir -p "$seeds/files"
build/nas -q search spaces/hpt.nas --trial-cmd "python3 tests/trial_programs/example.py" \
  --objective 'maximize accuracy' --max-trials 4 --study "$seeds/complete" >/dev/null
build/nas -q search spaces/hpt.nas --trial-cmd "python3 tests/trial_programs/example.py" \
  --max-trials 2 --max-failed-trials 2 --study "$seeds/failed" >/dev/null 2>&1 || true
cp "$seeds/complete/study.db" "$seeds/files/complete.db"
cp "$seeds/failed/study.db" "$seeds/files/failed.db"
for f in build-fuzz/tests/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  corpus=tests/fuzz/corpus/${name#fuzz_}
  [ "$name" = fuzz_study ] && corpus=$seeds/files
  mkdir -p "build-fuzz/corpus-$name"
  echo "-- $name"
  "$f" -max_total_time="${NAS_FUZZ_SECONDS:-30}" -rss_limit_mb=2048 -print_final_stats=0 \
    "build-fuzz/corpus-$name" $( [ -d "$corpus" ] && echo "$corpus" ) 2>&1 | tail -n 3
done
echo "tests: all passed"
