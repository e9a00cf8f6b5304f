#!/bin/sh
# run.sh - the controller benchmark: builds bench_controllers (Release), runs
# it (every controller, 3 landscapes, budgets 50/100/200, $SEEDS seeds), then
# optuna_bench.py (Optuna 3.1 TPE and random on the same landscapes, our tpe's
# proposal time against Optuna TPE's at 1000 trials) and prints the
# comparison. Results land in $OUT (ours.txt, ours.json, compare.md).
#
#   bench/controllers/run.sh                  # 30 seeds (about 10-15 min)
#   SEEDS=5 bench/controllers/run.sh          # a quick look
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
SEEDS=${SEEDS:-30}
OUT=${OUT:-$BUILD/bench-controllers}
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for p in python3 /usr/bin/python3; do
    if "$p" -c "import optuna" 2>/dev/null; then PY=$p; break; fi
  done
fi
if [ -z "$PY" ]; then
  echo "run.sh: no python with optuna (apt install python3-optuna, or set PYTHON)" >&2
  exit 1
fi
# -DNAS_WERROR=OFF: a warning in another module must not stop a benchmark
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DNAS_WERROR=OFF >/dev/null
cmake --build "$BUILD" --target bench_controllers -j2 >/dev/null
BIN="$BUILD/tests/bench_controllers"
mkdir -p "$OUT"
"$BIN" --seeds "$SEEDS" --json "$OUT/ours.json" | tee "$OUT/ours.txt"
echo
"$PY" "$ROOT/bench/controllers/optuna_bench.py" --ours "$OUT/ours.json" --bench "$BIN" \
  --markdown "$OUT/compare.md"
