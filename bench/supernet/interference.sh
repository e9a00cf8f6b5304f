#!/bin/sh
# Which sharing costs the supernet accuracy (docs/benchmarks.md, "one-epoch
# interference by decision"): spaces derived from spaces/mobilenet.nas where
# one kind of decision stays free and the others are fixed, each trained as a
# supernet for one epoch; prints the training accuracy over the sampled paths.
#
# usage: bench/supernet/interference.sh OUT_DIR [NAS_BINARY]
# Settings (environment): FRACTION (0.4), THREADS (1), VARIANTS (F S E2 K D E),
# EXTRA (more `nas supernet train` flags, e.g. --kernel-transform).
set -e
out=${1:?usage: interference.sh OUT_DIR [NAS_BINARY]}
nas=${2:-$(dirname "$0")/../../build/nas}
src=$(dirname "$0")/../../spaces/mobilenet.nas
: "${FRACTION:=0.4}" "${THREADS:=1}" "${VARIANTS:=F S E2 K D E}" "${EXTRA:=}"
export OMP_WAIT_POLICY=passive
mkdir -p "$out"
# fixed widths, depths, stem, head and no skip
fix_macro='s/let w1 = choice(16, 24)/let w1 = 24/; s/let w2 = choice(24, 32, 40)/let w2 = 32/;
s/let w3 = choice(40, 48, 64)/let w3 = 48/; s/let w4 = choice(64, 80, 96)/let w4 = 80/;
s/let w5 = choice(96, 112, 128)/let w5 = 112/; s/depth = choice(1, 2, 3)/depth = 2/;
s/choice(mb(out = w4), skip)/mb(out = w4)/; s/out = choice(16, 24))/out = 24)/; s/out = choice(192, 256)/out = 192/'
for v in $VARIANTS; do
    case $v in
    F) k=3 e=3 se=no macro=$fix_macro ;;
    S) k=3 e=3 se='choice(no, yes)' macro=$fix_macro ;;
    E2) k=3 e='choice(3, 6)' se=no macro=$fix_macro ;;
    E) k=3 e='choice(1, 3, 6)' se=no macro=$fix_macro ;;
    K) k='choice(3, 5, 7)' e=3 se=no macro=$fix_macro ;;
    D) k=3 e=3 se=no macro='' ;;
    *) echo "unknown variant $v (F S E2 E K D)" >&2; exit 2 ;;
    esac
    # the block definition spans two lines: join them, then set its decisions
    sed -e '/^block mb/{N;s/\n */ /}' -e "s/^space mobilenet/space v$v/" "$src" |
        sed -e "s/kernel = choice(3, 5, 7), expand = choice(1, 3, 6),/kernel = $k, expand = $e,/" \
            -e "s/se = choice(no, yes))/se = $se)/" -e "$macro" >"$out/v$v.nas"
    points=$("$nas" space show "$out/v$v.nas" | sed -n 's/^cardinality: //p')
    # shellcheck disable=SC2086 # EXTRA is a list of flags
    "$nas" supernet train "$out/v$v.nas" --epochs 1 --fraction "$FRACTION" --threads "$THREADS" $EXTRA \
        --out "$out/sn_$v" 2>&1 | sed -n 's/^supernet epoch 1\/1 *loss [0-9.]* *acc \([0-9.]*%\).*/\1/p' |
        while read -r acc; do echo "$v points $points train accuracy $acc"; done
done
