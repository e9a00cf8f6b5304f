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

The same run also scores the method used before the table had a fit, on the
same table and archs: the prediction sum of op values + constant, against
the measurement then used (the median of --runs consecutive runs,
`nas latency --min-time 0`, its median_ms), measured right after each
current measurement.

Clock-normalized: every measurement also gives its clock ratio (each run's
time over a fixed loop timed right after it, median over the runs); times
the table's clock loop time (clock_ms) it is the measurement in the table's
units, what `nas latency --clock LUT.json` reports. The table's values are
in those units (nas profile normalizes every sample the same way).

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
    """(latency_ms as nas latency reports it, median of --runs consecutive runs,
    clock_ratio: the run time over the clock loop's, median over the runs)"""
    j = json.loads(run([nas, "latency", path, "--json"] + extra))
    old = json.loads(run([nas, "latency", path, "--json", "--min-time", "0"] + extra))["median_ms"]
    return j["latency_ms"], old, j["clock_ratio"]


def score(pred, meas):
    err = [abs(p - m) / m for p, m in zip(pred, meas)]
    return 100 * statistics.mean(err), 100 * sum(e <= 0.10 for e in err) / len(err), \
        100 * max(err)


def line(name, pred, meas):
    return "%-62s MAPE %5.2f%%, within +-10%%: %5.1f%%, worst %5.1f%%" % ((name,) + score(pred, meas))


def loadavg():
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nas", required=True)
    ap.add_argument("--space", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                    "spaces", "mobilenet.nas"))
    ap.add_argument("-n", type=int, default=100, help="archs to measure and predict")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=50, help="timed runs per measurement (at least)")
    ap.add_argument("--samples", type=int, default=5000, help="nas profile --samples")
    ap.add_argument("--seed", type=int, default=20261122, help="seed of the evaluated archs")
    ap.add_argument("--isolated", action="store_true", help="nas profile --isolated")
    ap.add_argument("--lut", help="use this table instead of running nas profile")
    ap.add_argument("--workdir", default="latency_lut_work")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    print("start: %s" % loadavg())
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
        print("profile: %s" % loadavg())
        print(run([args.nas, "profile", args.space, "-o", lut, "--threads", str(args.threads),
                   "--samples", str(args.samples)] +
                  (["--isolated"] if args.isolated else [])).strip())
    t_profile = time.time() - t0
    lut_json = json.load(open(lut))
    const = lut_json["constant_ms"]
    clock = lut_json.get("clock_ms", 0.0)
    rows, missing = [], 0
    print("%-16s %9s %9s %9s %7s %9s %7s | %9s %9s %9s %7s" %
          ("arch", "before", "measured", "predicted", "error", "clk meas", "error", "old bef.",
           "old meas", "sum+c", "error"))
    for f in files:
        r = subprocess.run([args.nas, "latency", f, "--json", "--lut", lut, "--threads",
                            str(args.threads)], capture_output=True, text=True)
        if r.returncode != 0:
            missing += 1
            print("%-16s no prediction: %s" % (os.path.basename(f), r.stderr.strip()))
            continue
        j = json.loads(r.stdout)
        p, p_old = j["latency_ms"], j["sum_ms"] + const
        m, m_old, m_ratio = latency(args.nas, f, common)
        b, b_old, b_ratio = before[f]
        rows.append((b, m, p, b_old, m_old, p_old, b_ratio * clock, m_ratio * clock))
        mc = m_ratio * clock
        print("%-16s %9.4f %9.4f %9.4f %+6.1f%% %9.4f %+6.1f%% | %9.4f %9.4f %9.4f %+6.1f%%" %
              (os.path.basename(f), b, m, p, 100 * (p - m) / m, mc,
               100 * (p - mc) / mc if mc else 0.0, b_old, m_old, p_old,
               100 * (p_old - m_old) / m_old))
    if not rows:
        sys.exit("no arch could be predicted")
    b, m, p, b_old, m_old, p_old, b_clk, m_clk = (list(c) for c in zip(*rows))
    mach = lut_json["machine"]
    fit = lut_json.get("fit", {})
    print()
    print("end: %s" % loadavg())
    print("machine: %s, ISA %s, oneDNN %s, %d thread(s), batch %d" %
          (mach["cpu"], mach["isa"], mach["onednn"], mach["threads"], mach["batch"]))
    print("table: version %d, %d op keys, constant %.4f ms, clock loop %.4f ms%s" %
          (lut_json["version"], len(lut_json["entries"]), const, clock,
           "" if args.lut else ", built in %.1f s" % t_profile))
    if fit.get("terms"):
        print("fit: %d terms on %d networks: latency = %.4f x sum + %.5f ms x weight MiB %+.4f ms"
              % (fit["terms"], len(fit["networks"]), fit["scale"], fit["weight_ms_per_mib"],
                 fit["offset_ms"]))
    print("archs: %d predicted and measured (%d without a prediction), latency %.3f..%.3f ms"
          % (len(m), missing, min(m), max(m)))
    print("measurement: nas latency (fastest block of 10 runs, >= %d runs over >= 500 ms);"
          " old: median of %d runs" % (args.runs, args.runs))
    print(line("LUT prediction vs measurement:", p, m))
    print(line("LUT prediction vs measurement before profiling:", p, b))
    print(line("drift floor (measurement before profiling vs after):", b, m))
    if clock > 0:
        print(line("LUT prediction vs clock-normalized measurement:", p, m_clk))
        print(line("LUT prediction vs clock-normalized measurement before:", p, b_clk))
        print(line("drift floor, clock-normalized (before vs after):", b_clk, m_clk))
    print(line("old: sum + constant vs old measurement:", p_old, m_old))
    print(line("old: sum + constant vs old measurement before profiling:", p_old, b_old))
    print(line("old: drift floor of the old measurement:", b_old, m_old))
    print()
    print("every predictor against every measurement (MAPE / within +-10% / worst):")
    cell = lambda x, y: "%5.2f%% / %5.1f%% / %4.1f%%" % score(x, y)
    print("%-16s %-26s %-26s %-26s %-26s %-26s %-26s" % (
        "", "measurement after", "measurement before", "clock-norm. after", "clock-norm. before",
        "old meas. after", "old meas. before"))
    for name, x in (("fitted table", p), ("sum + constant", p_old)):
        print("%-16s %-26s %-26s %-26s %-26s %-26s %-26s" % (
            name, cell(x, m), cell(x, b), cell(x, m_clk) if clock else "-",
            cell(x, b_clk) if clock else "-", cell(x, m_old), cell(x, b_old)))
    print("drift floor (before vs after): measurement %s; clock-normalized %s; old measurement %s"
          % (cell(b, m), cell(b_clk, m_clk) if clock else "-", cell(b_old, m_old)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
