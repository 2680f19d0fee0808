#!/usr/bin/env bash
# The precision benchmarks of docs/performance.md "Session 23": longvid bench on LVDM's sky.yaml
# (random weights) and the default model in fp32, bf16 autocast, bf16 weights, bf16 weights + a bf16
# autoencoder, packed bf16 convolutions, and the sky decode with ATen's replicate pad (A/B), one after
# the other. Run it on a quiet machine; JSON per row under OUT (default /tmp/bf16_bench).
#   tools/bench/bf16_bench.sh [OUT]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-/tmp/bf16_bench}
bin=${LONGVID:-$root/build/longvid}
sky="$root/tests/data/configs/lvdm/lvdm_short/sky.yaml"
mkdir -p "$out"
run() { local name=$1; shift; echo "== $name: $*"; "$bin" -q bench "$@" --json "$out/$name.json" 2>&1 | tail -n +2; }
run sky_fp32 --model random --config "$sky" --cases denoiser,step,clip,decode --steps 5 --iters 2
run sky_bf16_autocast --model random --config "$sky" --cases denoiser,step --steps 5 --iters 2 --dtype bf16 --autocast
run sky_bf16 --model random --config "$sky" --cases denoiser,step,clip --steps 5 --iters 2 --dtype bf16
run sky_bf16_vae --model random --config "$sky" --cases clip,decode --steps 5 --iters 2 --dtype bf16 --vae-dtype bf16
LONGVID_CONV=packed run sky_bf16_packed --model random --config "$sky" --cases denoiser,step --steps 5 --iters 2 --dtype bf16
LONGVID_AE_PAD=aten run sky_decode_atenpad --model random --config "$sky" --cases decode --iters 2
run default_fp32 --cases denoiser,step,clip,decode --iters 5
run default_bf16 --cases denoiser,step,clip --iters 5 --dtype bf16
run default_bf16_vae --cases clip,decode --iters 5 --dtype bf16 --vae-dtype bf16
