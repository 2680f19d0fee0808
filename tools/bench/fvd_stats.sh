#!/usr/bin/env bash
# Throughput (clips/s) and peak RSS of the FVD statistics path at 256 and 2048 clips: memory must
# not grow with the number of clips (stats are O(D²); only one batch of clips is held).
# Input: a folder of N synthetic 64x64 y4m videos of 32 frames made here with `longvid video
# convert` from ffmpeg's testsrc2 (or INPUT=path to use your own set).
#   DETECTOR=path (+ PROTOCOL): the whole path through the detector (`longvid fvd bench --detector`).
#   no DETECTOR: reading + accumulation only; features are random float64 [B, 400] (labelled so).
# usage: tools/bench/fvd_stats.sh   (env: LONGVID, DETECTOR, PROTOCOL=stylegan-v, INPUT, VIDEOS=64,
#        SIZE=64x64, KVD=1 to keep features, BATCH=16)
# On a loaded machine, LibTorch's OpenMP threads spin and dominate these small ops: compare runs
# with OMP_NUM_THREADS=1 (what tools/bench figures in the fvd report use) and the default.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
longvid="${LONGVID:-$root/build/longvid}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/longvid-fvd.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
input="${INPUT:-}"
if [ -z "$input" ]; then
  input="$tmp/set"
  mkdir -p "$input"
  for i in $(seq 1 "${VIDEOS:-64}"); do
    ffmpeg -v error -f lavfi -i "testsrc2=size=${SIZE:-64x64}:rate=24" -vf "hue=h=$((i * 37 % 360))" \
      -ss "$((i % 5))" -frames:v 32 -pix_fmt yuv420p -f yuv4mpegpipe - |
      "$longvid" video convert - "$input/v$(printf %04d "$i").y4m" 2>/dev/null
  done
fi
args=(--batch "${BATCH:-16}" --seed 1)
[ -n "${DETECTOR:-}" ] && args+=(--detector "$DETECTOR" --protocol "${PROTOCOL:-stylegan-v}")
[ "${KVD:-0}" = 1 ] && args+=(--kvd)
echo "input: $input ($(ls "$input" | wc -l) videos), args: ${args[*]}"
for n in 256 2048; do
  "$longvid" -q fvd bench "$input" --num "$n" "${args[@]}"
done
