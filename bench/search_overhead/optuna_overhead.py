#!/usr/bin/env python3
"""optuna_overhead.py - Optuna side of the search-overhead benchmark.

Runs Optuna (Debian python3-optuna 3.1) with TPESampler or RandomSampler
(default settings, seed 0) and RDB storage on a fresh SQLite file,
N trials of the same no-op objective as bench_search_overhead.c:
(x - 2)^2 + (y + 1)^2 with x, y = suggest_float(-10, 10). Optuna's
per-trial log lines are turned off (logging WARNING; --default-logging keeps
them), which only makes Optuna faster: each INFO line looks up the best
trial. Times study.optimize (create_study is timed apart): wall seconds, and
CPU seconds of the process (time.process_time) as a check on a shared
machine. Prints one JSON line in the format of bench_search_overhead.

usage: optuna_overhead.py [--sampler tpe|random] [--trials 1000] [--default-logging]
"""
import argparse
import json
import os
import shutil
import tempfile
import time

import optuna


def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_float("y", -10, 10)
    return (x - 2) ** 2 + (y + 1) ** 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sampler", choices=["tpe", "random"], default="tpe")
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--default-logging", action="store_true",
                    help="keep Optuna's per-trial INFO lines (its default; slower)")
    a = ap.parse_args()
    if not a.default_logging:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    tmp = tempfile.mkdtemp(prefix="optuna-overhead-")
    try:
        storage = "sqlite:///" + os.path.join(tmp, "study.db")
        sampler = optuna.samplers.TPESampler(seed=0) if a.sampler == "tpe" else optuna.samplers.RandomSampler(seed=0)
        t0 = time.perf_counter()
        study = optuna.create_study(study_name="overhead", storage=storage, sampler=sampler, direction="minimize")
        t1, c1 = time.perf_counter(), time.process_time()
        study.optimize(objective, n_trials=a.trials)
        t2, c2 = time.perf_counter(), time.process_time()
        done = sum(1 for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)
        best = study.best_value
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"peer": "optuna " + optuna.__version__, "controller": a.sampler, "trials": a.trials,
                      "completed": done, "seconds": round(t2 - t1, 4), "cpu_seconds": round(c2 - c1, 4),
                      "ms_per_trial": round(1e3 * (t2 - t1) / a.trials, 4),
                      "create_study_seconds": round(t1 - t0, 4), "best_value": best}), flush=True)


if __name__ == "__main__":
    main()
