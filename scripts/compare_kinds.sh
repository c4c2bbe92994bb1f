#!/usr/bin/env bash
# Every model kind on the same data, budget and protocol: the comparison table of docs/benchmarks.md.
#
#   scripts/compare_kinds.sh DATA_ROOT RUNS_DIR
#
# DATA_ROOT holds MVTec-layout categories (full size, or copies made by scripts/resize_dataset.py). Each kind
# trains on each category once per seed, one run after another (the budget is each run's alone), then is
# evaluated on the development part and on the untouched remainder of docs/splits/<category>.dev.txt. The
# supervised kinds train on train/good plus the development part's defective images only (--split), so every
# kind is judged on the same remainder. The table (scripts/summarize_runs.py) ends the run.
# Environment: EI (the CLI command), KINDS (default: every kind that judges parts), CATS (default: bottle
# magnetic_tile cookie), SIZE (input size, default 128), MINUTES (budget per deep run, default 2), SEEDS
# (default 0), EXTRA (flags for every train), SPLITS (default docs/splits; for copies made by
# scripts/resize_dataset.py, which writes JPEG, a copy of the lists with .png turned to .jpg).
set -uo pipefail
data=${1:?usage: compare_kinds.sh DATA_ROOT RUNS_DIR}
runs=${2:?usage: compare_kinds.sh DATA_ROOT RUNS_DIR}
EI=${EI:-edge-inspector}
here=$(cd "$(dirname "$0")/.." && pwd)
KINDS=${KINDS:-$(python3 -c 'import sys; sys.path.insert(0, "'"$here"'"); from edge_inspector.model.kinds import INSPECTION_KINDS; print(*INSPECTION_KINDS)')}
CATS=${CATS:-bottle magnetic_tile cookie}
SIZE=${SIZE:-128}
MINUTES=${MINUTES:-2}
SEEDS=${SEEDS:-0}
EXTRA=${EXTRA:-}
SPLITS=${SPLITS:-$here/docs/splits}
mkdir -p "$runs"
supervised=$(python3 -c 'import sys; sys.path.insert(0, "'"$here"'"); from edge_inspector.model.kinds import REGISTRY
print(*(k for k, v in REGISTRY.items() if v.supervised))')

for seed in $SEEDS; do
    for cat in $CATS; do
        split="$SPLITS/$cat.dev.txt"
        for kind in $KINDS; do
            dir=$runs/$kind-$cat-s$seed
            mkdir -p "$dir"
            flags=(--kind "$kind" --seed "$seed" --input-size "$SIZE" --epochs 100000 --max-minutes "$MINUTES")
            [ "$kind" = feature ] && flags+=(--random-backbone)  # no ImageNet weights on these machines
            [[ " $supervised " == *" $kind "* ]] && flags+=(--split "$split")
            echo "$(date +%T) start $kind on $cat (seed $seed, ${MINUTES} min budget)"
            # shellcheck disable=SC2086
            if $EI train --data "$data/$cat" --out "$dir/model" "${flags[@]}" $EXTRA >"$dir/train.log" 2>&1 \
               && $EI evaluate --data "$data/$cat" --model "$dir/model" --split "$split" --subset dev \
                    --out "$dir/eval-dev" >"$dir/eval-dev.log" 2>&1 \
               && $EI evaluate --data "$data/$cat" --model "$dir/model" --split "$split" --subset remainder \
                    --out "$dir/eval-remainder" >"$dir/eval.log" 2>&1; then
                echo "$(date +%T) done  $kind on $cat: $(grep -m1 'image AUROC' "$dir/eval.log")"
            else
                echo "$(date +%T) FAILED $kind on $cat: $(tail -n 3 "$dir/train.log" "$dir/eval.log" 2>/dev/null \
                    | tr '\n' ' ')"
            fi
        done
    done
done
python3 "$here/scripts/summarize_runs.py" "$runs"
