#!/usr/bin/env bash
# Train + evaluate every model kind on the real datasets, as reported in docs/benchmarks.md.
#
#   scripts/benchmark_real_data.sh DATA_ROOT RUNS_DIR
#
# DATA_ROOT holds MVTec-layout categories bottle/, magnetic_tile/ and cookie/ (full-size, or copies made
# by scripts/resize_dataset.py). The scratch autoencoders (the product's default kind without ImageNet
# weights) train in parallel, one per category, each for the wall-clock budget of anomalib's DRAEM run it is
# compared with; the pixel-AE baselines and the feature AE (random frozen encoder: no ImageNet weights
# exist on our machines) train one after another beside them. Every run is then evaluated on its test set.
# Environment overrides: EI (the CLI command), SIZE, MIN_BOTTLE, MIN_TILE, MIN_COOKIES, MIN_PIXEL,
# MIN_FEATURE (minutes), EXTRA (flags for every train), EVAL_EXTRA (flags for every evaluate, e.g. the
# --tiles --working-size a tiled EXTRA trained for), PREFLIGHT=1 (a 1-epoch check of every kind first),
# SEEDS (default "0 1 2": every run once per seed, named NAME-s<seed>), SPLITS (default docs/splits: a
# category with SPLITS/<category>.dev.txt is evaluated on its development part and its remainder apart).
set -uo pipefail
data=${1:?usage: benchmark_real_data.sh DATA_ROOT RUNS_DIR}
runs=${2:?usage: benchmark_real_data.sh DATA_ROOT RUNS_DIR}
EI=${EI:-edge-inspector}
SIZE=${SIZE:-256}
EXTRA=${EXTRA:-}
EVAL_EXTRA=${EVAL_EXTRA:-}
SEEDS=${SEEDS:-0 1 2}
SPLITS=${SPLITS:-$(cd "$(dirname "$0")/.." && pwd)/docs/splits}
mkdir -p "$runs"

# evaluate DIR CATEGORY: the remainder and the development part apart when a split exists, else everything.
evaluate() {
    local dir=$1 cat=$2 split="$SPLITS/$2.dev.txt"
    if [ -f "$split" ]; then
        # shellcheck disable=SC2086
        $EI evaluate --data "$data/$cat" --model "$dir/model" --split "$split" --subset dev --out "$dir/eval-dev" $EVAL_EXTRA \
            >"$dir/eval-dev.log" 2>&1 &&
        $EI evaluate --data "$data/$cat" --model "$dir/model" --split "$split" --subset remainder $EVAL_EXTRA \
            --out "$dir/eval-remainder" >"$dir/eval.log" 2>&1
    else
        # shellcheck disable=SC2086
        $EI evaluate --data "$data/$cat" --model "$dir/model" --out "$dir/eval" $EVAL_EXTRA >"$dir/eval.log" 2>&1
    fi
}

# run NAME CATEGORY MINUTES TRAIN-FLAGS...: train then evaluate; logs in RUNS/NAME/.
run() {
    local name=$1 cat=$2 minutes=$3
    shift 3
    local dir=$runs/$name
    mkdir -p "$dir"
    echo "$(date +%T) start $name ($cat, ${minutes} min)"
    # shellcheck disable=SC2086
    if $EI train --data "$data/$cat" --out "$dir/model" --input-size "$SIZE" \
        --epochs 100000 --max-minutes "$minutes" "$@" $EXTRA >"$dir/train.log" 2>&1 \
       && evaluate "$dir" "$cat"; then
        echo "$(date +%T) done  $name: $(grep -m1 'image AUROC' "$dir/eval.log")"
    else
        echo "$(date +%T) FAILED $name: $(tail -n 3 "$dir/train.log" "$dir/eval.log" 2>/dev/null | tr '\n' ' ')"
    fi
}

if [ "${PREFLIGHT:-0}" = 1 ]; then
    echo "$(date +%T) preflight: one epoch of every kind at 64 px"
    for kind in scratch pixel feature; do
        flag=""; [ $kind = feature ] && flag="--random-backbone"
        $EI --log-level WARNING train --data "$data/cookie" --out "$runs/preflight-$kind" --model $kind \
            --input-size 64 --encoder-layers 2 --epochs 1 $flag >"$runs/preflight-$kind.log" 2>&1 &
    done
    wait
    $EI evaluate --data "$data/cookie" --model "$runs/preflight-scratch" --out "$runs/preflight-eval" \
        >>"$runs/preflight-scratch.log" 2>&1
    for kind in scratch pixel feature; do
        if ! grep -q "saved to" "$runs/preflight-$kind.log"; then
            echo "preflight $kind FAILED:"; tail -n 20 "$runs/preflight-$kind.log"; exit 3
        fi
    done
    grep -q "image AUROC" "$runs/preflight-scratch.log" || { echo "preflight evaluate FAILED:";
        tail -n 20 "$runs/preflight-scratch.log"; exit 3; }
    echo "$(date +%T) preflight ok"
fi

# Oriented parts would forbid flips; bottles seen from above, tile surfaces and cookies allow them.
aug="--hflip --vflip"
for seed in $SEEDS; do run "scratch-bottle-s$seed" bottle "${MIN_BOTTLE:-4.5}" --model scratch \
    --patience 100000 --seed "$seed" $aug; done &
for seed in $SEEDS; do run "scratch-magnetic_tile-s$seed" magnetic_tile "${MIN_TILE:-5}" --model scratch \
    --patience 100000 --seed "$seed" $aug; done &
for seed in $SEEDS; do run "scratch-cookie-s$seed" cookie "${MIN_COOKIES:-2}" --model scratch \
    --patience 100000 --seed "$seed" $aug; done &
(
    for seed in $SEEDS; do
        for cat in bottle magnetic_tile cookie; do
            run "pixel-$cat-s$seed" "$cat" "${MIN_PIXEL:-1}" --model pixel --seed "$seed" $aug
        done
        for cat in bottle magnetic_tile cookie; do
            run "feature-random-$cat-s$seed" "$cat" "${MIN_FEATURE:-0.75}" --model feature --random-backbone \
                --seed "$seed" $aug
        done
    done
) &
wait
echo "$(date +%T) all runs finished"
python3 "$(dirname "$0")/summarize_runs.py" "$runs"
