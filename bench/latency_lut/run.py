#!/usr/bin/env python3
"""bench/latency_lut/run.py - accuracy of latency lookup tables (nas profile).

Builds a table for spaces/mobilenet.nas on this machine with `nas profile`,
samples archs from the same space with another seed (`nas space sample`),
measures each with `nas latency` and predicts it with `nas latency --lut`,
and prints the mean absolute percentage error (MAPE) of the prediction and
the share of archs within +-10% (target: >= 95%). To show how much of the
error is the machine's drift, each arch is also measured before the table is
built, and the later measurement is scored against that one the same way
("drift floor": a table cannot be more accurate than the machine is
reproducible over the time between profiling and measuring).

    bench/latency_lut/run.py --nas build/nas [--space spaces/mobilenet.nas]
        [-n 100] [--threads 1] [--runs 50] [--samples 5000] [--isolated] [--lut LUT.json]
        [--workdir DIR]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stderr.strip()))
    return r.stdout


def latency(nas, path, extra):
    return json.loads(run([nas, "latency", path, "--json"] + extra))["latency_ms"]


def score(pred, meas):
    err = [abs(p - m) / m for p, m in zip(pred, meas)]
    return 100 * statistics.mean(err), 100 * sum(e <= 0.10 for e in err) / len(err), \
        100 * max(err)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nas", required=True)
    ap.add_argument("--space", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                    "spaces", "mobilenet.nas"))
    ap.add_argument("-n", type=int, default=100, help="archs to measure and predict")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=50, help="timed runs per measurement")
    ap.add_argument("--samples", type=int, default=5000, help="nas profile --samples")
    ap.add_argument("--seed", type=int, default=20261122, help="seed of the evaluated archs")
    ap.add_argument("--isolated", action="store_true", help="nas profile --isolated")
    ap.add_argument("--lut", help="use this table instead of running nas profile")
    ap.add_argument("--workdir", default="latency_lut_work")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    archs = os.path.join(args.workdir, "archs")
    run([args.nas, "space", "sample", args.space, "-n", str(args.n), "--seed", str(args.seed),
         "-o", archs])
    files = sorted(os.path.join(archs, f) for f in os.listdir(archs) if f.endswith(".json"))
    common = ["--threads", str(args.threads), "--runs", str(args.runs)]
    # first measurement, before the table is built: the drift of the machine
    # over the profiling time is the floor of any table's accuracy
    before = {f: latency(args.nas, f, common) for f in files}
    lut = args.lut or os.path.join(args.workdir, "lut.json")
    t0 = time.time()
    if not args.lut:
        print(run([args.nas, "profile", args.space, "-o", lut, "--threads", str(args.threads),
                   "--samples", str(args.samples)] +
                  (["--isolated"] if args.isolated else [])).strip())
    t_profile = time.time() - t0
    meas, meas0, pred, missing = [], [], [], 0
    print("%-16s %10s %10s %10s %8s" % ("arch", "before", "measured", "predicted", "error"))
    for f in files:
        r = subprocess.run([args.nas, "latency", f, "--json", "--lut", lut, "--threads",
                            str(args.threads)], capture_output=True, text=True)
        if r.returncode != 0:
            missing += 1
            print("%-16s no prediction: %s" % (os.path.basename(f), r.stderr.strip()))
            continue
        p = json.loads(r.stdout)["latency_ms"]
        m = latency(args.nas, f, common)
        meas.append(m)
        meas0.append(before[f])
        pred.append(p)
        print("%-16s %10.4f %10.4f %10.4f %+7.1f%%" % (os.path.basename(f), before[f], m, p,
                                                     100 * (p - m) / m))
    if not meas:
        sys.exit("no arch could be predicted")
    mape, within, worst = score(pred, meas)
    nmape, nwithin, nworst = score(meas0, meas)
    bmape, bwithin, bworst = score(pred, meas0)
    lut_json = json.load(open(lut))
    m = lut_json["machine"]
    print()
    print("machine: %s, ISA %s, oneDNN %s, %d thread(s), batch %d" %
          (m["cpu"], m["isa"], m["onednn"], m["threads"], m["batch"]))
    print("table: %d op keys, constant %.4f ms%s" %
          (len(lut_json["entries"]), lut_json["constant_ms"],
           "" if args.lut else ", built in %.1f s" % t_profile))
    print("archs: %d predicted and measured (%d without a prediction), latency %.3f..%.3f ms"
          % (len(meas), missing, min(meas), max(meas)))
    print("LUT prediction vs measurement: MAPE %.2f%%, within +-10%%: %.1f%%, worst %.1f%%"
          % (mape, within, worst))
    print("LUT prediction vs measurement before profiling: MAPE %.2f%%, within +-10%%: %.1f%%, "
          "worst %.1f%%" % (bmape, bwithin, bworst))
    print("drift floor (measurement before profiling vs after): MAPE %.2f%%, within +-10%%: "
          "%.1f%%, worst %.1f%%" % (nmape, nwithin, nworst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
