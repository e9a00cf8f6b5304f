#!/usr/bin/env bash
# The main job: installs what is missing, builds nas, and runs the default
# search on the embedded default data (Fashion-MNIST): spaces/mobilenet.nas,
# the weight-sharing supernet evaluator, regularized evolution, a batch-1
# latency constraint of 1 ms, then stage 2 (the best candidate retrained from
# scratch and tested). 25 minutes measured on 2 cores shared with a CI run;
# less on an idle machine. The study goes to
# runs/main (running the command again continues or reports it); extra
# arguments go to `nas search` (e.g. --time-budget 60m, --max-trials 100).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
# OpenMP threads sleep instead of spinning while they wait: on a shared
# machine spinning threads steal the cores the work needs.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
build/nas search spaces/mobilenet.nas \
  --controller evolution \
  --constraint 'latency<=1ms' \
  --supernet-epochs 2 --supernet-batch 64 --proxy-fraction 0.1 \
  --max-trials 30 \
  --final-top-k 1 --final-epochs 2 \
  --threads 2 \
  --study runs/main "$@"
build/nas report runs/main
echo "report: runs/main/report.html; trials: build/nas trials runs/main"
