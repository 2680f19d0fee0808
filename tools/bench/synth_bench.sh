#!/usr/bin/env bash
# Speed of the synthetic-data tools (figures in docs/synth.md):
#  1. `longvid synth` rendering (frames/s, rendering alone and with encoding) at 64² and 256²,
#     2 videos x 1,000 frames, y4m (lossless) and mp4;
#  2. the scorer (`longvid synth score`) on those videos (with decoding, and segmentation alone);
#  3. the training reader (`longvid dataset --batches`): clips/s of [4,3,16,64,64] batches with 0, 1
#     and 2 worker threads, from 8 mp4 videos of 256 frames at 64² (stride 2) and 256² (resized to 64).
# usage: tools/bench/synth_bench.sh     (env: LONGVID=path/to/longvid)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
L="${LONGVID:-$root/build/longvid}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/longvid-synth.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
for s in 64 256; do
  "$L" synth -o "$tmp/y$s" --videos 2 --frames 1000 --size $s --seed 1 --format y4m 2>&1 | tail -1
  "$L" synth -o "$tmp/m$s" --videos 2 --frames 1000 --size $s --seed 1 2>&1 | tail -1
done
for f in y64/video_00000.y4m m64/video_00000.mp4 y256/video_00000.y4m m256/video_00000.mp4; do
  printf '%s: ' "$f"; "$L" synth score "$tmp/$f" 2>&1 | grep scored
done
"$L" synth -o "$tmp/r64" --videos 8 --frames 256 --size 64 --seed 3 2>/dev/null
"$L" synth -o "$tmp/r256" --videos 8 --frames 256 --size 256 --seed 3 2>/dev/null
for w in 0 1 2; do
  printf 'r64  stride 2: '; "$L" dataset "$tmp/r64" --workers $w --batches 20 --batch 4 --clip-frames 16 --stride 2 | grep batches
done
for w in 0 1 2; do
  printf 'r256 -> 64:   '; "$L" dataset "$tmp/r256" --workers $w --batches 10 --batch 4 --clip-frames 16 --size 64 --random-crop | grep batches
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
