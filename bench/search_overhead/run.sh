#!/usr/bin/env bash
# Search-overhead benchmark (issue #7): 1000 trials of a no-op in-process
# objective through the whole search job (SQLite study store), nas against
# Optuna 3.1 (Debian python3-optuna) with SQLite storage, in the same run:
# for each round, nas tpe, Optuna TPE, nas random, Optuna random. Prints
# every run, the median wall and CPU times, the ratios of the medians
# Optuna/nas and each round's ratio.
#   bench/search_overhead/run.sh [ROUNDS] [TRIALS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-1}
trials=${2:-1000}
build=${BUILD:-build}
export OMP_WAIT_POLICY=passive
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target bench_search_overhead -j2 >/dev/null
out=$(mktemp)
for r in $(seq "$rounds"); do
  for c in tpe random; do
    "$build/bench/bench_search_overhead" --controller "$c" --trials "$trials" 2>/dev/null | tee -a "$out"
    /usr/bin/python3 bench/search_overhead/optuna_overhead.py --sampler "$c" --trials "$trials" | tee -a "$out"
  done
done
/usr/bin/python3 - "$out" "$rounds" "$trials" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(f"median of {sys.argv[2]} round(s), {sys.argv[3]} trials; last column: each round's ratio")
for k in ("seconds", "cpu_seconds"):
    for c in ("tpe", "random"):
        nas = [r[k] for r in rows if r["controller"] == c and r["peer"] == "nas"]
        opt = [r[k] for r in rows if r["controller"] == c and r["peer"] != "nas"]
        a, b = statistics.median(nas), statistics.median(opt)
        what = "wall" if k == "seconds" else "cpu "
        each = " ".join(f"{o / n:.0f}" for n, o in zip(nas, opt))
        print(f"  {what} {c:6s}  nas {a:8.3f} s  optuna {b:8.2f} s  optuna/nas {b / a:7.1f}x   ({each})")
PY
rm -f "$out"
