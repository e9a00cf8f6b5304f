#!/usr/bin/env python3
"""bench/latency_lut/fit_cv.py - compares network-level models of a latency table.

Reads a version-2 table made by `nas profile` (its entries' samples and its
fit networks, measured as `nas latency` does) and scores candidate models
mapping a network's op values to its latency by 10-fold cross-validation on
the fit networks: each fold is predicted by a model fitted (least squares on
the relative error, as nas does) on the other nine. It repeats this for
several statistics of an entry's samples (minimum, 10th percentile, lower
quartile as nas uses, median). Profiling data only: no benchmark arch is
involved. Needs numpy (Debian: /usr/bin/python3).

    /usr/bin/python3 bench/latency_lut/fit_cv.py LUT.json [--folds 10] [--seed 0]

S = sum of the table values of a network's keys, W = its weights in MiB,
N = its number of ops with a key. "S + constant" is the table without a
fit; "a S + g W + c" is the model nas fits.
"""
import argparse
import json
import sys

import numpy as np

MODELS = [
    ("S + constant", None),
    ("a S", lambda S, W, N: [S]),
    ("a S + c", lambda S, W, N: [S, np.ones_like(S)]),
    ("a S + b S W + c", lambda S, W, N: [S, S * W, np.ones_like(S)]),
    ("a S + g W + c", lambda S, W, N: [S, W, np.ones_like(S)]),
    ("a S + b S W + g W + c", lambda S, W, N: [S, S * W, W, np.ones_like(S)]),
    ("a S + g W + d N + c", lambda S, W, N: [S, W, N, np.ones_like(S)]),
]


def score(p, m):
    e = np.abs(p - m) / m
    return "%5.2f%% %6.1f%% %6.1f%%" % (100 * e.mean(), 100 * (e <= 0.1).mean(), 100 * e.max())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("lut")
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t = json.load(open(args.lut))
    if t.get("version") != 2 or not t["fit"]["networks"]:
        sys.exit("%s: a version-2 table with fit networks is needed" % args.lut)
    nets = t["fit"]["networks"]
    m = np.array([n["latency_ms"] for n in nets])
    W = np.array([n["weight_bytes"] for n in nets]) / 2**20
    N = np.array([len(n["entries"]) for n in nets], dtype=float)
    folds = np.random.default_rng(args.seed).permutation(len(m)) % args.folds
    print("%s: %d fit networks, %d-fold cross-validation (MAPE, within +-10%%, worst)"
          % (args.lut, len(m), args.folds))
    for name, q in (("minimum", 0.0), ("10th percentile", 0.1), ("lower quartile", 0.25),
                    ("median", 0.5)):
        v = np.array([np.quantile(e.get("samples_ms", [e["ms"]]), q) for e in t["entries"]])
        S = np.array([v[n["entries"]].sum() for n in nets])
        print("entry value: %s" % name)
        for mname, f in MODELS:
            p = np.zeros_like(m)
            for k in range(args.folds):
                tr, te = folds != k, folds == k
                if f is None:
                    p[te] = S[te] + t["constant_ms"]
                    continue
                F = np.stack(f(S, W, N), 1)
                coef = np.linalg.lstsq(F[tr] / m[tr, None], np.ones(tr.sum()), rcond=None)[0]
                p[te] = F[te] @ coef
            print("  %-24s %s" % (mname, score(p, m)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
