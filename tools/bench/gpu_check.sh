#!/usr/bin/env bash
# The prepared GPU check (issue 16): on a machine with an NVIDIA GPU, builds longvid's CUDA variant
# against the machine's own LibTorch (the torch of `python3`), runs the CUDA tests, then
# `longvid bench` on the GPU — the default model, LVDM sky.yaml (548.9M U-Net, random weights) and
# Latte-XL/2 (random weights) in fp32 and bf16 — and writes everything under $OUT (default
# /tmp/gpu_check). About 10 minutes on an H200 (build ~4 min on 16 cores).
#
# On a machine without a GPU it says so in one line, writes $OUT/summary.txt, and exits 0.
#
#   tools/bench/gpu_check.sh                       # on the device machine: source .gpu-deps/env.sh first
#   OUT=/tmp/x tools/bench/gpu_check.sh --quick    # --quick: fewer iterations
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
iters=3
[ "${1:-}" = "--quick" ] && iters=1
summary="$OUT/summary.txt"
: > "$summary"
say() { echo "gpu_check: $*" | tee -a "$summary"; }

if ! command -v nvidia-smi > /dev/null 2>&1 || ! nvidia-smi -L > /dev/null 2>&1; then
  say "no NVIDIA GPU visible (nvidia-smi finds none): skipping the CUDA build, the CUDA tests and the GPU benchmarks"
  exit 0
fi
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
say "GPU: $gpu"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1

# bf16 dense peak for MFU (TFLOP/s), by name.
peak=0
case "$gpu" in
  *H200*|*H100*SXM*|*"H100 80GB HBM3"*) peak=989 ;;
  *H100*) peak=756 ;;
  *A100*) peak=312 ;;
  *L40S*) peak=362 ;;
esac

if [ -z "${TORCH_CMAKE_PREFIX:-}" ]; then
  TORCH_CMAKE_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null) || {
    say "python3 has no torch: cannot build against the machine's LibTorch"; exit 1; }
fi
torch_dir=$(dirname "$(dirname "$TORCH_CMAKE_PREFIX")")  # .../site-packages/torch
say "LibTorch: $torch_dir"

build="$root/build-gpu"
t0=$(date +%s)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLONGVID_CUDA=ON -DLONGVID_FFMPEG=OFF \
      -DLONGVID_TORCH_ROOT="$torch_dir" -DCMAKE_PREFIX_PATH="${LONGVID_DEPS_PREFIX:-};$TORCH_CMAKE_PREFIX" \
      > "$OUT/configure.log" 2>&1 || { say "configure failed (configure.log)"; tail -20 "$OUT/configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" > "$OUT/build.log" 2>&1 || { say "build failed (build.log)"; tail -30 "$OUT/build.log"; exit 1; }
say "built in $(( $(date +%s) - t0 )) s"

# CUDA tests: the device parsing / policy tests and the parity tests (fixtures made on the CPU).
( cd "$build" && ctest -R "device|cuda|latte|lvdm_unet3d|sampler|ifnet|rife" --output-on-failure -j 4 ) > "$OUT/ctest.log" 2>&1
say "ctest (device, cuda, latte, U-Net, sampler, ifnet, rife): $(grep -E 'tests passed|tests failed' "$OUT/ctest.log" | tail -1)"

lv="$build/longvid"
bench() {  # name, then longvid bench arguments
  local name=$1; shift
  if "$lv" bench --device cuda --iters "$iters" --peak-tflops "$peak" --json "$OUT/bench_$name.json" "$@" \
       > "$OUT/bench_$name.txt" 2> "$OUT/bench_$name.log"; then
    say "bench $name:"; sed 's/^/    /' "$OUT/bench_$name.txt" | tee -a "$summary" > /dev/null
  else
    say "bench $name failed: $(tail -1 "$OUT/bench_$name.log")"
  fi
}
cfg="$root/tests/data/configs/lvdm/lvdm_short/sky.yaml"
latte_cfg="$OUT/latte_xl2.yaml"
printf 'model: Latte-XL/2\nnum_frames: 16\nimage_size: 256\nlearn_sigma: True\nextras: 2\nnum_classes: 101\ncfg_scale: 7.0\nnum_sampling_steps: 250\n' > "$latte_cfg"
bench default_fp32 --cases denoiser,step,clip,decode,long --long-frames 1024
bench default_bf16 --dtype bf16 --cases denoiser,step,clip,long --long-frames 1024
bench sky_fp32 --model random --config "$cfg" --cases denoiser,step,clip,decode --steps 5 --latent-frames 16
bench sky_bf16 --model random --config "$cfg" --dtype bf16 --cases denoiser,step,clip --steps 5
bench latte_xl2_fp32 --model random --config "$latte_cfg" --cases denoiser,step --steps 5
bench latte_xl2_bf16 --model random --config "$latte_cfg" --dtype bf16 --cases denoiser,step --steps 5
# RIFE on the GPU (issue 17): an IFNet of the 4.26 layout (train-rife --preset 4.26, one step: any
# weights time the same) on 16 frames of 1280x720 (y4m: FFmpeg is off here), fp32 and fp16, then
# the same on the CPU for the ratio.
"$lv" -q synth -o "$OUT/rife_data" --videos 1 --frames 8 --size 64 --format y4m > /dev/null 2>&1
"$lv" -q train-rife --data "$OUT/rife_data" -o "$OUT/rife426.safetensors" --preset 4.26 --steps 1 --batch 1 \
  --workers 0 --warmup 1 > "$OUT/rife_train.log" 2>&1 || say "train-rife failed: $(tail -1 "$OUT/rife_train.log")"
python3 - "$OUT/in720.y4m" <<'PY'
import sys
import numpy as np
w, h, n = 1280, 720, 16
y, x = np.mgrid[0:h, 0:w]
with open(sys.argv[1], "wb") as f:
    f.write(f"YUV4MPEG2 W{w} H{h} F8:1 Ip A1:1 C444\n".encode())
    for i in range(n):
        f.write(b"FRAME\n")
        luma = (16 + ((x + 8 * i) % 256) * 219 // 255).astype(np.uint8)
        luma[200:320, 300 + 10 * i:420 + 10 * i] = 235
        f.write(luma.tobytes() + np.full((2, h, w), 128, np.uint8).tobytes())
PY
for dev in "cuda fp32" "cuda fp16" "cpu fp32"; do
  set -- $dev
  if "$lv" -q interpolate "$OUT/in720.y4m" -o "$OUT/out720_$1_$2.y4m" --model "$OUT/rife426.safetensors" \
       --device "$1" --dtype "$2" --no-progress > "$OUT/rife_$1_$2.txt" 2> "$OUT/rife_$1_$2.log"; then
    say "rife 720p x2 $1 $2: $(sed 's/.* in \(.*\)/\1/' "$OUT/rife_$1_$2.txt")"
  else
    say "rife $1 $2 failed: $(tail -1 "$OUT/rife_$1_$2.log")"
  fi
  rm -f "$OUT/out720_$1_$2.y4m"
done
# Memory of long videos on the GPU: 64 against 4,096 frames (target: <= 1.1x).
bench long64 --cases long --long-frames 64 --iters 1
bench long4096 --cases long --long-frames 4096 --iters 1 --warmup 0
say "done in $(( $(date +%s) - t0 )) s; results in $OUT"
