#!/usr/bin/env bash
# The prepared GPU check (issue 16): on a machine with an NVIDIA GPU it
#   1. builds longvid's CUDA variant against the machine's own LibTorch (the torch of `python3`),
#      or takes a prebuilt one (--prebuilt DIR: longvid + longvid_tests built with -DLONGVID_CUDA=ON
#      -DLONGVID_FFMPEG=OFF against the same torch version, which is checked; tools/bench/gpu_bundle.sh
#      packs them);
#   2. runs the CUDA parity tests (tests/core/test_cuda_parity.cpp: U-Nets, 3D AE, Latte, IFNet and
#      DDIM in fp32 on the GPU against the official fixtures; bf16 against fp32) and the device tests;
#   3. with --lvdm-src PATH: the official LVDM code side by side on the GPU (tools/bench/vs_official.sh
#      --device cuda: sky.yaml random weights, 16x256^2, DDIM 50, eager fp32 and bf16 autocast);
#   4. `longvid bench --device cuda`: the default model (fp32, bf16, 1,024 frames), LVDM sky.yaml
#      (548.9M U-Net) and Latte-XL/2 (random weights) in fp32 and bf16 with MFU (bf16: the weights
#      cast, `--dtype bf16 --vae-dtype bf16`; sky also with `--autocast`), RIFE 720p on the GPU
#      and the CPU, and the peak GPU memory of 64 against 4,096 frames;
# and writes everything under $OUT (default /tmp/gpu_check), summary.txt first. Steps are ordered
# by importance; --deadline S skips what would start after S seconds (each step has its own timeout),
# so a time-limited machine returns the most important figures; --only LIST runs only these parts
# (tests, official, sky, default, latte, long, cudnn, rife; default: all). --tar FILE: after every step, the
# whole $OUT (small files) is also packed into FILE (for a transport that returns few files).
#
# On a machine without a GPU it says so in one line, writes $OUT/summary.txt, and exits 0.
#
#   tools/bench/gpu_check.sh                       # on the device machine: source .gpu-deps/env.sh first
#   OUT=/tmp/x tools/bench/gpu_check.sh --quick    # --quick: one timed iteration per case
#   tools/bench/gpu_check.sh --prebuilt build-gpu --lvdm-src /path/to/LVDM --deadline 480 --tar /tmp/r.tgz
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${OUT:-/tmp/gpu_check}
iters=3
prebuilt=""
lvdm_src=""
deadline=0
tarball=""
only="tests,official,sky,default,latte,long,cudnn,rife"
die() { echo "gpu_check: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in --quick|-h|--help) ;; *) [ $# -ge 2 ] || die "$1: missing value (--help lists the options)" ;; esac
  case "$1" in
    --quick) iters=1; shift ;;
    --prebuilt) prebuilt="${2-}"; shift 2 ;;
    --lvdm-src) lvdm_src="${2-}"; shift 2 ;;
    --deadline) deadline="${2-}"; shift 2 ;;
    --tar) tarball="${2-}"; shift 2 ;;
    --only) only="${2-}"; shift 2 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d;s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (--help lists the options)" ;;
  esac
done
[[ "$deadline" =~ ^[0-9]+$ ]] || die "--deadline $deadline: expected seconds"
IFS=, read -r -a only_list <<<"$only"
for p in "${only_list[@]}"; do
  case "$p" in tests|official|sky|default|latte|long|cudnn|rife) ;; *) die "--only: unknown part '$p'" ;; esac
done
want() { [[ ",$only," == *",$1,"* ]]; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
summary="$OUT/summary.txt"
: > "$summary"
say() { echo "gpu_check: $*" | tee -a "$summary"; }
t0=$(date +%s)
elapsed() { echo $(( $(date +%s) - t0 )); }
pack() {  # (the tarball itself is left out when it lies inside $OUT)
  [ -n "$tarball" ] || return 0
  tar czf "$tarball.tmp" -C "$OUT" --exclude='*.y4m' --exclude='rife_data' --exclude="$(basename "$tarball")*" . \
    && mv "$tarball.tmp" "$tarball" || say "could not write --tar $tarball"
}
# step NAME TIMEOUT: 0 if the step should run (not past --deadline); the timeout is capped by it.
step_timeout=0
tests_rc=0
step() {
  local name=$1 want=$2 left
  pack
  if [ "$deadline" -gt 0 ]; then
    left=$(( deadline - $(elapsed) ))
    if [ "$left" -lt 20 ]; then say "skipped $name: past --deadline ($(elapsed) s of $deadline)"; return 1; fi
    [ "$want" -le "$left" ] || want=$left
  fi
  step_timeout=$want
  echo "gpu_check: [$(elapsed) s] $name (timeout $want s)"
  return 0
}

if ! command -v nvidia-smi > /dev/null 2>&1 || ! nvidia-smi -L > /dev/null 2>&1; then
  say "no NVIDIA GPU visible (nvidia-smi finds none): skipping the CUDA build, the CUDA tests and the GPU benchmarks"
  exit 0
fi
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
say "GPU: $gpu ($(nvidia-smi --query-gpu=driver_version,memory.total --format=csv,noheader | head -1))"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1

# bf16 dense peak for MFU (TFLOP/s), by name. Passed to the fp32 runs too: their "MFU" is then a
# fraction of the bf16 peak, not of the fp32 one.
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
torch_version=$(python3 -c 'import torch; print(torch.__version__)' 2>/dev/null)
say "LibTorch: $torch_dir ($torch_version)"
# The CUDA runtime next to the wheel (nvidia/cu13/lib; cu12 wheels: nvidia/cuda_runtime/lib) for a
# prebuilt binary whose rpath names another machine's.
libpath="$torch_dir/lib"
for d in "$torch_dir/../nvidia/cu13/lib" "$torch_dir/../nvidia/cuda_runtime/lib"; do
  [ -d "$d" ] && libpath="$libpath:$(cd "$d" && pwd)"
done
export LD_LIBRARY_PATH="$libpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# ---- 1. the binaries ---------------------------------------------------------------------------
if [ -n "$prebuilt" ]; then
  build=$(cd "$prebuilt" 2>/dev/null && pwd) || die "--prebuilt $prebuilt: no such directory"
  [ -x "$build/longvid" ] || die "--prebuilt $build: no longvid binary there"
  # tools/bench/gpu_bundle.sh puts the non-torch shared libraries (spdlog, fmt, yaml-cpp, ICU, ...) in lib/.
  [ -d "$build/lib" ] && export LD_LIBRARY_PATH="$build/lib:$LD_LIBRARY_PATH"
  ! want tests || [ -x "$build/tests/longvid_tests" ] || die "--prebuilt $build: no tests/longvid_tests there"
  # Its compiled-in paths name the machine it was built on: the assets and the SentencePiece module
  # are taken from here and from DIR.
  export LONGVID_ASSETS="$root/assets"
  [ -f "$build/liblongvid_spm.so" ] && export LONGVID_SPM_MODULE="$build/liblongvid_spm.so"
  built_for=$(cat "$build/torch_version.txt" 2>/dev/null || echo unknown)
  [ "$built_for" = "$torch_version" ] \
    || die "--prebuilt $build was built against torch $built_for, this machine has $torch_version: build here instead"
  "$build/longvid" --version > "$OUT/version.txt" 2>&1 || { say "the prebuilt longvid does not start: $(tail -1 "$OUT/version.txt")"; exit 1; }
  say "prebuilt: $build ($(head -1 "$OUT/version.txt"), built against torch $built_for)"
else
  build="$root/build-gpu"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLONGVID_CUDA=ON -DLONGVID_FFMPEG=OFF \
        -DLONGVID_TORCH_ROOT="$torch_dir" -DCMAKE_PREFIX_PATH="${LONGVID_DEPS_PREFIX:-};$TORCH_CMAKE_PREFIX" \
        > "$OUT/configure.log" 2>&1 || { say "configure failed (configure.log)"; tail -20 "$OUT/configure.log"; exit 1; }
  cmake --build "$build" -j "$(nproc)" --target longvid longvid_tests > "$OUT/build.log" 2>&1 \
    || { say "build failed (build.log)"; tail -30 "$OUT/build.log"; exit 1; }
  echo "$torch_version" > "$build/torch_version.txt"
  say "built in $(elapsed) s"
fi
lv="$build/longvid"

# ---- 2. CUDA tests -----------------------------------------------------------------------------
if want tests && step "CUDA tests" 300; then
  LONGVID_TEST_DATA_DIR="$root/tests/data" timeout "$step_timeout" "$build/tests/longvid_tests" -tc="cuda:*,device:*" -s \
    > "$OUT/cuda_tests.log" 2>&1
  tests_rc=$?
  say "CUDA tests (rc $tests_rc): $(grep -E '^\[doctest\] (test cases|assertions)' "$OUT/cuda_tests.log" | tr '\n' ' ')"
  grep -E "LONGVID_SKIPPED|ERROR|FAILED" "$OUT/cuda_tests.log" | sed 's/^/    /' >> "$summary"
  grep -E "MESSAGE" "$OUT/cuda_tests.log" | sed 's/^.*MESSAGE: /    /' >> "$summary"
fi

# ---- 3. the official LVDM code side by side ---------------------------------------------------------
if [ -n "$lvdm_src" ] && want official; then
  for mode in ${GPU_CHECK_OFFICIAL_MODES:-eager autocast}; do  # the official side: eager fp32, bf16 autocast
    step "vs_official sky $mode" 240 || continue
    timeout "$step_timeout" "$root/tools/bench/vs_official.sh" --lvdm-src "$lvdm_src" --device cuda --rows sky \
      --steps 50 --seed 1 --threads "$(nproc)" --mode "$mode" --python python3 --longvid "$lv" \
      --work "${GPU_CHECK_WORK:-/tmp/gpu_check_work}" --json "$OUT/vs_official_sky_$mode.json" \
      > "$OUT/vs_official_sky_$mode.log" 2>&1
    say "vs_official sky 16x256^2 DDIM 50 $mode (rc $?):"
    sed -n '/^row /,/^seconds/p' "$OUT/vs_official_sky_$mode.log" | sed 's/^/    /' >> "$summary"
    tail -3 "$OUT/vs_official_sky_$mode.log" | sed 's/^/    | /' >> "$summary"
  done
fi

# ---- 4. benchmarks ----------------------------------------------------------------------------------
bench() {  # name, timeout, then longvid bench arguments
  local name=$1 tmo=$2; shift 2
  step "bench $name" "$tmo" || return 0
  if timeout "$step_timeout" "$lv" bench --device cuda --iters "$iters" --peak-tflops "$peak" --json "$OUT/bench_$name.json" "$@" \
       > "$OUT/bench_$name.txt" 2> "$OUT/bench_$name.log"; then
    say "bench $name:"; sed 's/^/    /' "$OUT/bench_$name.txt" >> "$summary"
  else
    say "bench $name failed or timed out: $(tail -1 "$OUT/bench_$name.log")"
  fi
}
cfg="$root/tests/data/configs/lvdm/lvdm_short/sky.yaml"
latte_cfg="$OUT/latte_xl2.yaml"
printf 'model: Latte-XL/2\nnum_frames: 16\nimage_size: 256\nlearn_sigma: True\nextras: 2\nnum_classes: 101\ncfg_scale: 7.0\nnum_sampling_steps: 250\n' > "$latte_cfg"
if want sky; then
  # bf16: the weights cast (norms fp32) and the autoencoder in bf16; then autocast for the comparison.
  bench sky_bf16 120 --model random --config "$cfg" --dtype bf16 --vae-dtype bf16 --cases denoiser,step,clip,decode --steps 5 --latent-frames 16
  bench sky_fp32 120 --model random --config "$cfg" --cases denoiser,step,clip,decode --steps 5 --latent-frames 16
  bench sky_bf16_autocast 60 --model random --config "$cfg" --dtype bf16 --autocast --cases denoiser,step --steps 5
fi
if want default; then
  bench default_fp32 150 --cases denoiser,step,clip,decode,long --long-frames 1024
  bench default_bf16 150 --dtype bf16 --vae-dtype bf16 --cases denoiser,step,clip,long --long-frames 1024
fi
if want latte; then
  bench latte_xl2_bf16 90 --model random --config "$latte_cfg" --dtype bf16 --cases denoiser,step --steps 5
  bench latte_xl2_fp32 90 --model random --config "$latte_cfg" --cases denoiser,step --steps 5
fi
if want long; then  # memory of long videos on the GPU: 64 against 4,096 frames (target: <= 1.1x)
  bench long64 60 --cases long --long-frames 64 --iters 1
  bench long4096 240 --cases long --long-frames 4096 --iters 1 --warmup 0
fi
if want cudnn; then  # cuDNN's benchmark mode (opt-in, core/device.cpp) against its heuristic (the default)
  export LONGVID_CUDNN_BENCHMARK=1
  bench sky_fp32_cudnn_benchmark 90 --model random --config "$cfg" --cases denoiser
  bench sky_bf16_cudnn_benchmark 90 --model random --config "$cfg" --dtype bf16 --cases denoiser
  unset LONGVID_CUDNN_BENCHMARK
fi

# RIFE on the GPU (issue 17): an IFNet of the 4.26 layout (train-rife --preset 4.26, one step: any
# weights time the same) on 16 frames of 1280x720 (y4m: FFmpeg is off here), fp32 and fp16, then
# the same on the CPU for the ratio.
if want rife && step "rife" 150; then
  per=$(( step_timeout / 5 > 10 ? step_timeout / 5 : 10 ))  # five commands share the step's time
  timeout "$per" "$lv" -q synth -o "$OUT/rife_data" --videos 1 --frames 8 --size 64 --format y4m > /dev/null 2>&1
  timeout "$per" "$lv" -q train-rife --data "$OUT/rife_data" -o "$OUT/rife426.safetensors" --preset 4.26 --steps 1 --batch 1 \
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
    if timeout "$per" "$lv" -q interpolate "$OUT/in720.y4m" -o "$OUT/out720_$1_$2.y4m" --model "$OUT/rife426.safetensors" \
         --device "$1" --dtype "$2" --no-progress > "$OUT/rife_$1_$2.txt" 2> "$OUT/rife_$1_$2.log"; then
      say "rife 720p x2 $1 $2: $(sed 's/.* in \(.*\)/\1/' "$OUT/rife_$1_$2.txt")"
    else
      say "rife $1 $2 failed: $(tail -1 "$OUT/rife_$1_$2.log")"
    fi
    rm -f "$OUT/out720_$1_$2.y4m"
  done
  rm -f "$OUT/in720.y4m" "$OUT/rife426.safetensors"
fi
say "done in $(elapsed) s; results in $OUT"
pack
# Non-zero when the CUDA tests failed (the benchmarks' failures are in the summary).
[ "$tests_rc" = 0 ] || { say "the CUDA tests failed (rc $tests_rc): cuda_tests.log"; exit 1; }
exit 0
