#!/usr/bin/env bash
# Reference-network benchmark: nas against PyTorch 1.13 (Debian python3-torch)
# on the same network, data, batch (128) and threads (2), in the same run,
# alternating ROUNDS times; prints each run and the median ratios.
#   bench/train_reference/run.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
build=${BUILD:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target bench_train -j2 >/dev/null
out=$(mktemp)
for r in $(seq "$rounds"); do
  /usr/bin/python3 bench/train_reference/torch_ref.py --threads 2 | tee -a "$out"
  "$build/bench/bench_train" --threads 2 | tee -a "$out"
done
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
nas = [r for r in rows if r["peer"] == "nas"]
torch = [r for r in rows if r["peer"] != "nas"]
def med(rs, k): return statistics.median(r[k] for r in rs)
print(f"median of {len(nas)} rounds, 2 threads, batch 128 training / batch 1 inference")
for k, label in [("train_images_per_s", "training images/s"), ("latency_ms", "batch-1 latency ms"),
                 ("peak_rss_mib", "peak RSS MiB")]:
    a, b = med(nas, k), med(torch, k)
    print(f"  {label:20s} nas {a:10.3f}  pytorch {b:10.3f}  ratio nas/pytorch {a / b:6.3f}")
PY
rm -f "$out"
