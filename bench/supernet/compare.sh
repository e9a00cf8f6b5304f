#!/bin/sh
# Ranks several supernets against one ground truth (a truth file of
# `nas supernet rank --standalone`, complete for the archs of ARCHS and
# SEED) and prints one markdown table row each: Kendall tau against the
# mean (with its 95% bootstrap interval over the archs) and against each
# seed, with the validation loss as the score, the
# scores' span and their tau against MACs; then the cost-only baselines, how
# well the ground truth's seeds agree and, with two seeds or more, the tau a
# perfect score could reach against it. Only scoring runs when TRUTH.json
# holds every seed of every arch (about 2 min per supernet of the default
# space on 2 cores); otherwise `rank` first trains the missing runs into it.
#
# usage: bench/supernet/compare.sh TRUTH.json SUPERNET_DIR...
# Settings (environment): NAS (build/nas), ARCHS (20), SEED (0), THREADS (2),
# EXTRA (more rank flags, e.g. "--finetune-steps 100"). Each ranking is kept
# as SUPERNET_DIR/rank-vs-<truth file name>.json.
set -e
truth=${1:?usage: compare.sh TRUTH.json SUPERNET_DIR...}
shift
here=$(dirname "$0")
: "${NAS:=$here/../../build/nas}" "${ARCHS:=20}" "${SEED:=0}" "${THREADS:=2}" "${EXTRA:=}"
export OMP_WAIT_POLICY=passive
tag=$(basename "$truth" .json)
echo "| supernet | tau vs mean | 95% interval | tau vs each seed | val loss as the score | scores span | tau vs MACs |"
echo "|---|---|---|---|---|---|---|"
last=
for dir in "$@"; do
    out="$dir/rank-vs-$tag.json"
    # shellcheck disable=SC2086
    "$NAS" supernet rank "$here/../../spaces/mobilenet.nas" --supernet "$dir" --archs "$ARCHS" --seed "$SEED" \
        --threads "$THREADS" --standalone "$truth" --json $EXTRA > "$out" 2> "$out.err"
    python3 - "$dir" "$out" <<'PY'
import json, sys
d = json.load(open(sys.argv[2]))
c = d["candidates"]
s = [x["supernet_val_accuracy"] for x in c]
def tau(a, b):
    n, num, ta, tb = len(a), 0, 0, 0
    for i in range(n):
        for j in range(i + 1, n):
            x = (a[i] > a[j]) - (a[i] < a[j]); y = (b[i] > b[j]) - (b[i] < b[j])
            num += x * y; ta += x != 0; tb += y != 0
    return num / (ta * tb) ** 0.5 if ta and tb else float("nan")
f = lambda v: "n/a" if v is None else "%.3f" % v
iv = d.get("kendall_tau_interval")
print("| %s | %s | %s | %s | %s | %.2f-%.2f%% | %.2f |" % (sys.argv[1], f(d["kendall_tau"]),
      "%.2f..%.2f" % tuple(iv) if iv else "n/a",
      " / ".join(f(v) for v in d["kendall_tau_per_seed"]), f(d["kendall_tau_loss"]),
      100 * min(s), 100 * max(s), tau(s, [x["macs"] for x in c])))
PY
    last=$out
done
python3 - "$last" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
f = lambda v: "n/a" if v is None else "%.3f" % v
print("\nwithout a supernet: MACs %s, parameters %s; the ground truth's seeds agree at %s (%d archs, %d epochs, %d seeds)"
      % (f(d["kendall_tau_macs"]), f(d["kendall_tau_params"]), f(d.get("seed_kendall_tau")), d["archs"],
         d["train_epochs"], d["train_seeds"]))
c = d.get("tau_ceiling")
if c:
    print("a perfect score's tau (Gaussian model of the seeds' spread): %.2f against one seed, %.2f against the "
          "mean of %d" % (c["one_seed"], c["mean"], d["train_seeds"]))
PY
