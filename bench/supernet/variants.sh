#!/bin/sh
# Trains the supernet variants docs/benchmarks.md ranks against the
# converged ground truth, with the settings of that file, into OUT_DIR/<name>
# (each resumes from its last checkpoint when run again):
#
#   spos10  SPOS, 10 epochs on 40% of the training split ("rank2" in the docs)
#   kt10    the same with kernel transforms
#   full15  SPOS, 15 epochs on all the data
#   sand5   the sandwich rule, 5 epochs on 40%
#   dist5   the sandwich rule with in-place distillation, 5 epochs on 40%
#   fair10  fair sampling, 10 epochs on 40%
#
# then ranks them all against TRUTH (default bench/supernet/converged.json)
# with compare.sh. About 3 hours on 2 cores.
#
# usage: bench/supernet/variants.sh OUT_DIR [NAME...]
# Settings (environment): NAS (build/nas), THREADS (2), TRUTH.
set -e
out=${1:?usage: variants.sh OUT_DIR [NAME...]}
shift
here=$(dirname "$0")
: "${NAS:=$here/../../build/nas}" "${THREADS:=2}" "${TRUTH:=$here/converged.json}"
export OMP_WAIT_POLICY=passive
names=${*:-spos10 kt10 full15 sand5 dist5 fair10}
dirs=
for name in $names; do
    case $name in
    spos10) flags="--fraction 0.4 --epochs 10" ;;
    kt10) flags="--fraction 0.4 --epochs 10 --kernel-transform" ;;
    full15) flags="--fraction 1 --epochs 15" ;;
    sand5) flags="--fraction 0.4 --epochs 5 --sandwich" ;;
    dist5) flags="--fraction 0.4 --epochs 5 --sandwich --distill" ;;
    fair10) flags="--fraction 0.4 --epochs 10 --fair" ;;
    *) echo "variants.sh: unknown variant '$name'" >&2; exit 2 ;;
    esac
    mkdir -p "$out"
    start=$(date +%s)
    # shellcheck disable=SC2086
    "$NAS" supernet train "$here/../../spaces/mobilenet.nas" $flags --batch 64 --seed 0 --threads "$THREADS" \
        --out "$out/$name" > "$out/$name.log" 2>&1 || { echo "variants.sh: $name failed: see $out/$name.log" >&2; exit 1; }
    echo "$name: $(($(date +%s) - start)) s; $(grep '^supernet trained' "$out/$name.log" | tail -1)"
    dirs="$dirs $out/$name"
done
# shellcheck disable=SC2086
THREADS=$THREADS NAS=$NAS "$here/compare.sh" "$TRUTH" $dirs
