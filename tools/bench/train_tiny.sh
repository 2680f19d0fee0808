#!/usr/bin/env bash
# Tiny-config training benchmark: steps/s and loss start/end of `longvid train` (and optionally
# `longvid train-vae`) on a folder of small videos (e.g. `longvid synth -o DIR --size 32`).
#   tools/bench/train_tiny.sh DATA_DIR [STEPS] [VAE_STEPS]
# Prints the CLI's summary lines (steps, seconds, steps/s, mean loss of the first / last 10%).
set -euo pipefail
data=${1:?usage: train_tiny.sh DATA_DIR [STEPS] [VAE_STEPS]}
steps=${2:-60}
vae_steps=${3:-0}
bin=${LONGVID:-build/longvid}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$bin" train --data "$data" --ae random -o "$out/diff" --unet tiny --frames 8 --size 32 --batch 4 \
  --steps "$steps" --lr 1e-3 --warmup 5 --seed 0 --log-every 10 --save-every 100000 | grep '^train:'
if [ "$vae_steps" -gt 0 ]; then
  "$bin" train-vae --data "$data" -o "$out/vae" --frames 8 --size 32 --batch 2 --steps "$vae_steps" \
    --lr 1e-3 --disc-start $((vae_steps / 2)) --log-every 10 --save-every 100000 | grep '^train-vae:'
fi
