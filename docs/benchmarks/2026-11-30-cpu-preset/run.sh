#!/usr/bin/env bash
# CPU preset runs: one category after another, each alone on the 2 cores.
set -u
cd /work/main
EI=".venv/bin/edge-inspector"
for cat in magnetic_tile bottle cookie; do
  dir=runs-cpu/$cat-s0; mkdir -p $dir
  echo "$(date +%T) start $cat"
  OMP_NUM_THREADS=2 $EI train --preset cpu-30min --data .devdata/real/$cat --out $dir/model --hflip --vflip --seed 0 >$dir/train.log 2>&1
  echo "$(date +%T) trained $cat: $(grep -m1 'trained scratch' $dir/train.log)"
  for sub in dev remainder; do
    OMP_NUM_THREADS=2 $EI evaluate --data .devdata/real/$cat --model $dir/model --split docs/splits/$cat.dev.txt --subset $sub --out $dir/eval-$sub >$dir/eval-$sub.log 2>&1
  done
  echo "$(date +%T) evaluated $cat: $(grep -m1 'image AUROC' $dir/eval-remainder.log)"
done
echo "$(date +%T) all done"
