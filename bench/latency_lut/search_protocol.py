#!/usr/bin/env python3
"""bench/latency_lut/search_protocol.py - the search's latency across a load change.

`nas search --latency measure` times each candidate briefly (30 runs after
3 warm-up runs). This measures the same archs that way twice, once on the
machine as it is and once while a training run loads it (`nas train` of the
first arch on all cores, started and stopped by this script), and compares
the two passes for the plain figure (fastest block of 10 runs, what the
search reported before) and the clock-normalized one (median of run time /
clock loop, times a reference loop time measured at the start: what the
search reports now, docs/cost.md). A constraint such as latency <= X keeps
the same candidates in both passes only if the figure does not move with
the load: the table prints the share of archs within +-5% and +-10% of the
first pass and the mean shift.

    bench/latency_lut/search_protocol.py --nas build/nas [-n 40] [--seed 7]
        [--workdir DIR]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import run  # noqa: E402  (the table benchmark's command runner)


def measure(nas, files):
    """(fastest 10-run block, clock ratio) per arch, the search's protocol"""
    out = []
    for f in files:
        j = json.loads(run([nas, "latency", f, "--json", "--threads", "1", "--runs", "30", "--warmup", "3",
                            "--min-time", "0"]))
        out.append((j["block_ms"], j["clock_ratio"], j["loop_ms"]))
    return out


def compare(name, a, b):
    d = [(y - x) / x for x, y in zip(a, b)]
    return "| %s | %.2f%% | %.0f%% | %.0f%% | %+.2f%% |" % (
        name, 100 * statistics.mean(abs(e) for e in d), 100 * sum(abs(e) <= 0.05 for e in d) / len(d),
        100 * sum(abs(e) <= 0.10 for e in d) / len(d), 100 * statistics.mean(d))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nas", required=True)
    ap.add_argument("--space", default=os.path.join(os.path.dirname(__file__), "..", "..", "spaces",
                                                    "mobilenet.nas"))
    ap.add_argument("-n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", default="search_protocol_work")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    archs = os.path.join(args.workdir, "archs")
    run([args.nas, "space", "sample", args.space, "-n", str(args.n), "--seed", str(args.seed), "-o", archs])
    files = sorted(os.path.join(archs, f) for f in os.listdir(archs) if f.endswith(".json"))
    print("pass 1 (as the machine is): load average %.2f" % os.getloadavg()[0])
    t0 = time.time()
    quiet = measure(args.nas, files)
    t1 = time.time() - t0
    load = subprocess.Popen([args.nas, "-q", "train", "--arch", files[0], "--epochs", "1000", "--no-test"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(5)  # past data loading: the load is training
        print("pass 2 (with nas train on all cores): load average %.2f" % os.getloadavg()[0])
        loaded = measure(args.nas, files)
    finally:
        load.kill()
        load.wait()
    # one reference for both passes, as a study keeps one: pass 1's median loop
    ref = statistics.median(x[2] for x in quiet)
    print("%d archs (%.3f-%.3f ms), pass 1 took %.1f s; clock loop median %.4f ms in pass 1, %.4f ms in pass 2"
          % (len(files), min(x[0] for x in quiet), max(x[0] for x in quiet), t1, ref,
             statistics.median(x[2] for x in loaded)))
    print()
    print("| figure | MAPE pass 2 vs 1 | within 5% | within 10% | mean shift |")
    print("|---|---|---|---|---|")
    print(compare("plain (fastest 10-run block of 30)", [x[0] for x in quiet], [x[0] for x in loaded]))
    print(compare("clock-normalized (ratio x reference)", [x[1] * ref for x in quiet], [x[1] * ref for x in loaded]))


if __name__ == "__main__":
    main()
