#!/usr/bin/env python3
"""bench/latency_lut/torch_ratio.py - nas's inference engine against PyTorch.

For each arch.json given (files or folders), measures `nas latency` (oneDNN
engine, BN folded, fused activations) and the same network in PyTorch
(bench/cost_torch_check.py's model, eval mode, torch.no_grad, BN not folded)
at batch 1 with the same thread count: median of --runs timed runs after 10
warm-up runs each. Prints both and the ratio torch / nas per arch and the
geometric mean. Needs a python3 with torch (Debian: /usr/bin/python3).

    /usr/bin/python3 bench/latency_lut/torch_ratio.py --nas build/nas DIR
"""
import argparse
import glob
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("ctc", os.path.join(HERE, "..", "cost_torch_check.py"))
ctc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ctc)  # exits 77 without torch
torch = ctc.torch


def torch_ms(arch, runs):
    torch.manual_seed(0)
    model = ctc.Net(arch).eval()
    x = torch.randn(1, *arch["input"])
    with torch.no_grad():
        for _ in range(10):
            model(x)
        ms = []
        for _ in range(runs):
            t0 = time.perf_counter()
            model(x)
            ms.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ms)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nas", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    files = []
    for p in args.paths:
        files += sorted(glob.glob(os.path.join(p, "*.json"))) if os.path.isdir(p) else [p]
    ratios = []
    print("%-20s %10s %10s %8s" % ("arch", "nas ms", "torch ms", "ratio"))
    for f in files:
        # the median of --runs consecutive runs on both sides (not nas's
        # fastest-block latency, which has no PyTorch counterpart here)
        r = subprocess.run([args.nas, "latency", f, "--json", "--threads", str(args.threads),
                            "--runs", str(args.runs), "--min-time", "0"], capture_output=True,
                           text=True)
        if r.returncode != 0:
            sys.exit("nas latency %s: %s" % (f, r.stderr.strip()))
        n = json.loads(r.stdout)["median_ms"]
        t = torch_ms(json.load(open(f)), args.runs)
        ratios.append(t / n)
        print("%-20s %10.4f %10.4f %8.2f" % (os.path.basename(f), n, t, t / n))
    g = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
    print("torch %s, %d thread(s), batch 1: torch / nas latency, geometric mean %.2f over %d archs"
          " (min %.2f, max %.2f)" % (torch.__version__, args.threads, g, len(ratios), min(ratios),
                                     max(ratios)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
