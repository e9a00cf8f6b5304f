#!/usr/bin/env python3
"""optuna_bench.py - Optuna's TPE and random samplers on the landscapes of
bench_controllers.c, and the comparison with our controllers.

Runs Optuna (Debian python3-optuna 3.1, default TPESampler settings) on the
same three landscapes (mixed, hpo, cell; definitions mirrored from
bench_controllers.c, same decision order, same conditional structure), the
same budgets (best after 50/100/200 trials) and the same number of seeds,
then reads our results (--ours, the JSON written by bench_controllers) and
prints mean/std/median regret per controller and the ratios of our
controllers' mean regret to Optuna TPE's. Timing: Optuna TPE's sampling cost
(ask + every suggest of one trial) averaged over trials 900..999 of a
1000-trial study, against our tpe's ctrl_propose over the same trials.

With --bench BINARY, our tpe's timing is measured again by running
`BINARY --timing-only` right before and right after Optuna's timing runs
(the machine is shared: this keeps both measurements close in time) and the
mean of the two is used; otherwise the timing in --ours is used.

Usage: optuna_bench.py --ours ours.json [--bench bench_controllers]
                       [--seeds N] [--timing-trials T] [--markdown out.md]
Does not run our benchmark (run.sh does both).
"""
import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time

import optuna

BUDGETS = [50, 100, 200]


def mixed(trial):
    op = trial.suggest_categorical("op", [0, 1, 2, 3])
    width = trial.suggest_int("width", 1, 16)
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    depth = trial.suggest_categorical("depth", [0, 1, 2])
    if op < 2:
        kernel = trial.suggest_categorical("kernel", [0, 1, 2])
        expand = trial.suggest_int("expand", 1, 6)
    drop = trial.suggest_float("drop", 0.0, 0.5)
    act = trial.suggest_categorical("act", [0, 1, 2])
    f = [-0.3, 0.0, -0.6, -0.8][op] + [-0.3, -0.1, 0.0][depth] + [-0.15, 0.0, -0.05][act]
    w = (width - 11.0) / 15.0
    lq = (math.log10(lr) - math.log10(3e-3)) / 3.0
    d = drop - 0.1
    f += -0.5 * w * w - lq * lq - 2.0 * d * d
    if op < 2:
        f += [-0.2, 0.0, -0.3][kernel] - 0.05 * abs(expand - 4.0)
    else:
        f += -0.3 - 0.05 * 3
    return f


def hpo(trial):
    o = trial.suggest_categorical("optimizer", [0, 1, 2])
    lr = trial.suggest_float("lr", 1e-5, 1.0, log=True)
    if o == 0:
        momentum = trial.suggest_float("momentum", 0.0, 0.99)
    batch = trial.suggest_categorical("batch", [0, 1, 2, 3, 4])
    layers = trial.suggest_int("layers", 1, 8)
    dropout = trial.suggest_float("dropout", 0.0, 0.9)
    warmup = trial.suggest_int("warmup", 0, 10)
    lq = math.log10(lr) - math.log10([0.1, 1e-3, 3e-4][o])
    ly = (layers - 5.0) / 7.0
    dr = dropout - 0.3
    f = (-[0.05, 0.0, 0.02][o] - 0.5 * lq * lq - 0.6 * ly * ly - dr * dr
         - [0.1, 0.03, 0.0, 0.02, 0.08][batch] - 0.02 * abs(warmup - 3.0))
    if o == 0:
        f -= 0.5 * (momentum - 0.9) ** 2
    return f


def cell_value(x):
    f = sum(0.2 * math.cos(1.3 * e + 2.1 * x[e]) for e in range(6))
    f += 0.25 * (x[0] == x[5])
    f -= 0.3 * (x[1] == 0 and x[2] == 0)
    f += 0.1 * math.sin(x[3] * x[4])
    return f


def cell(trial):
    names = ["e01", "e02", "e12", "e03", "e13", "e23"]
    return cell_value([trial.suggest_categorical(n, [0, 1, 2, 3, 4]) for n in names])


LANDSCAPES = {"mixed": mixed, "hpo": hpo, "cell": cell}


def make_sampler(kind, seed):
    if kind == "optuna_tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def run(fn, kind, seed, n):
    """Best value after each budget; and the mean sampling time over the
    last 100 trials (ask + suggests), in ms."""
    study = optuna.create_study(direction="maximize", sampler=make_sampler(kind, seed))
    best, out, spent, timed = -math.inf, {}, 0.0, 0
    for t in range(n):
        t0 = time.perf_counter()
        trial = study.ask()
        value = fn(trial)  # the suggests sample; the function itself is ~microseconds
        dt = time.perf_counter() - t0
        if t >= n - 100:
            spent += dt
            timed += 1
        study.tell(trial, value)
        best = max(best, value)
        if t + 1 in BUDGETS:
            out[t + 1] = best
    return out, (spent / timed * 1e3 if timed else 0.0)


def ours_timing(args):
    """Runs our benchmark's timing part; returns {landscape: ms per proposal}."""
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        subprocess.run([args.bench, "--timing-only", "--json", f.name], check=True,
                       stdout=subprocess.DEVNULL)
        with open(f.name) as g:
            data = json.load(g)
    if data["timing_trials"] != args.timing_trials:
        sys.exit(f"timing trials differ: ours {data['timing_trials']}, "
                 f"optuna {args.timing_trials}")
    return data["tpe_ms_per_proposal"]


def stats(values):
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std, statistics.median(values)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--seeds", type=int, default=None, help="default: as in --ours")
    ap.add_argument("--timing-trials", type=int, default=1000)
    ap.add_argument("--markdown", default=None)
    ap.add_argument("--bench", default=None, help="bench_controllers binary for timing")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with open(args.ours) as f:
        ours = json.load(f)
    seeds = args.seeds or ours["seeds"]
    md = []

    def emit(line=""):
        print(line)
        md.append(line)

    emit(f"optuna {optuna.__version__}; {seeds} seeds; regret = optimum - best found "
         "(lower is better)")
    emit()
    rows = {}
    for name, fn in LANDSCAPES.items():
        opt = ours["landscapes"][name]["optimum"]
        for kind in ("optuna_tpe", "optuna_random"):
            per = {b: [] for b in BUDGETS}
            for seed in range(seeds):
                best, _ = run(fn, kind, seed, max(BUDGETS))
                for b in BUDGETS:
                    per[b].append(opt - best[b])
            rows[(name, kind)] = per
        for kind, data in ours["landscapes"][name]["controllers"].items():
            rows[(name, kind)] = {int(b): [opt - v for v in vals] for b, vals in data.items()}

    kinds = list(ours["landscapes"]["mixed"]["controllers"].keys()) + ["optuna_tpe",
                                                                      "optuna_random"]
    for name in LANDSCAPES:
        emit(f"### {name} (optimum {ours['landscapes'][name]['optimum']:.4f})")
        emit()
        emit("| controller | regret @50 mean ± std (median) | @100 | @200 "
             "| ratio to optuna_tpe @50/@100/@200 |")
        emit("|---|---|---|---|---|")
        ref = rows[(name, "optuna_tpe")]
        for kind in kinds:
            per = rows[(name, kind)]
            cells = []
            ratios = []
            for b in BUDGETS:
                m, s, med = stats(per[b])
                cells.append(f"{m:.4f} ± {s:.4f} ({med:.4f})")
                rm = stats(ref[b])[0]
                ratios.append(f"{m / rm:.2f}" if rm > 0 else "n/a")
            emit(f"| {kind} | " + " | ".join(cells) + " | " + "/".join(ratios) + " |")
        emit()

    t0, t1 = args.timing_trials - 100, args.timing_trials - 1
    emit(f"### proposal time at {args.timing_trials} trials "
         f"(mean over trials {t0}..{t1}, ms per trial)")
    emit()
    before = ours_timing(args) if args.bench else ours["tpe_ms_per_proposal"]
    theirs = {name: run(fn, "optuna_tpe", 12345, args.timing_trials)[1]
              for name, fn in LANDSCAPES.items()}
    after = ours_timing(args) if args.bench else ours["tpe_ms_per_proposal"]
    emit("| landscape | ours tpe (ctrl_propose) before / after | optuna TPE (ask + suggests) "
         "| speed-up (optuna / mean of ours) |")
    emit("|---|---|---|---|")
    for name in LANDSCAPES:
        mine = 0.5 * (before[name] + after[name])
        emit(f"| {name} | {before[name]:.4f} / {after[name]:.4f} | {theirs[name]:.2f} "
             f"| {theirs[name] / mine:.0f}x |")
    emit()
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
