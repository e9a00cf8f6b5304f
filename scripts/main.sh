#!/usr/bin/env bash
# The main job: installs what is missing, builds nas, and runs the default
# search on the embedded default data (Fashion-MNIST): spaces/mobilenet.nas,
# the weight-sharing supernet evaluator, regularized evolution, a batch-1
# latency constraint of 1 ms, then stage 2 (the best candidate retrained from
# scratch and tested). The job's time budget is 15 minutes, stage 2 included
# (the search stops starting trials when only stage 2's estimated time is
# left); a larger one searches longer: scripts/main.sh --time-budget 60m.
# The study goes to runs/main; running the command again continues it, and
# the budget is the study's (a second run with a larger one, e.g.
# --time-budget 30m, searches 15 minutes more); extra arguments go to
# `nas search` (they win over these).
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
  --supernet-epochs 3 --supernet-batch 64 --proxy-fraction 0.4 \
  --max-trials 1000 --time-budget 15m \
  --final-top-k 1 --final-epochs 4 \
  --threads 2 \
  --study runs/main "$@"
build/nas report runs/main
echo "report: runs/main/report.html; trials: build/nas trials runs/main"
