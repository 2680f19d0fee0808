#!/usr/bin/env bash
# RIFE frame-rate upsampling: longvid vs the PyTorch reference (Practical-RIFE's inference_video.py run
# unchanged with vs-rife's port of the IFNet, both imported from the paths given, never copied here), on
# the same frames, weights, multi, padding and thread count, timed in the same script; then longvid's
# peak RSS at two video lengths (memory must not grow with the length).
#
# usage: tools/bench/rife_bench.sh --vsrife-src S --rife-src R [--work DIR] [--threads 2] [--version 4.26]
#            [--sizes "256x256 1280x720"] [--frames 12] [--multi 2] [--rss "1000 10000"] [--python PY]
#            [--longvid BIN] [--json OUT.json]
#
# "longvid s" is the whole process (start, model load, reading and writing the y4m); "loop s" what
# longvid reports for reading, interpolating and writing. The reference's time covers its loop only.
# Per size: `longvid synth` (sprites, y4m) scaled by ffmpeg to the size; the reference reads the same
# frames as raw RGB; both pad to 128 (inference_video.py's rule: --pad 128 for longvid) and do the same
# duplicate / scene-cut decisions. longvid runs twice: exact (default) and --fast. Throughput = output frames / wall seconds (model loading included for
# longvid, excluded for the reference). The reference runs with glibc's default allocator and with the
# one longvid's CLI sets (no mmap for large blocks, tools/main.cpp); the faster of the two is compared. RSS rows: `longvid interpolate` on 64x64 videos of each length
# with the same IFNet, /usr/bin/time's maximum resident set.
set -euo pipefail
vsrife="${VSRIFE_SRC:-}" rife="${RIFE_SRC:-}" work=/tmp/rife_bench threads=2 version=4.26
sizes="256x256 1280x720" frames=12 multi=2 rss="1000 10000" py="${PYTHON:-python3}" bin=build/longvid json=""
while [ $# -gt 0 ]; do
  case "$1" in
    --vsrife-src) vsrife=$2; shift 2 ;; --rife-src) rife=$2; shift 2 ;; --work) work=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;; --version) version=$2; shift 2 ;; --sizes) sizes=$2; shift 2 ;;
    --frames) frames=$2; shift 2 ;; --multi) multi=$2; shift 2 ;; --rss) rss=$2; shift 2 ;;
    --python) py=$2; shift 2 ;; --longvid) bin=$2; shift 2 ;; --json) json=$2; shift 2 ;;
    *) echo "rife_bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$vsrife" ] && [ -n "$rife" ] || { echo "rife_bench.sh: give --vsrife-src and --rife-src" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
export OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=PASSIVE
model="$work/flownet_v$version.pkl"
[ -f "$model" ] || "$py" "$here/rife_reference.py" weights --vsrife-src "$vsrife" --version "$version" --out "$model"
rows=()
[ -d "$work/synth" ] || "$bin" -q synth -o "$work/synth" --videos 1 --frames "$frames" --size 256 --seed 9 --format y4m
for s in $sizes; do
  w=${s%x*} h=${s#*x}
  in="$work/in_$s.y4m" raw="$work/in_$s.rgb"
  [ -f "$in" ] || ffmpeg -loglevel error -y -i "$work/synth/video_00000.y4m" -vf "scale=$w:$h:flags=bicubic" \
    -pix_fmt yuv444p "$in"
  [ -f "$raw" ] || ffmpeg -loglevel error -y -i "$in" -f rawvideo -pix_fmt rgb24 "$raw"
  # The reference at its better allocator setting: glibc's default, or the one longvid's CLI sets.
  ref_default=$("$py" "$here/rife_reference.py" run --vsrife-src "$vsrife" --rife-src "$rife" --version "$version" \
        --weights "$model" --frames "$raw" --size "$s" --multi "$multi" --threads "$threads" 2>/dev/null | tail -1)
  ref_tuned=$(GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647 \
        "$py" "$here/rife_reference.py" run --vsrife-src "$vsrife" --rife-src "$rife" --version "$version" \
        --weights "$model" --frames "$raw" --size "$s" --multi "$multi" --threads "$threads" 2>/dev/null | tail -1)
  ref="{\"default_malloc\": $ref_default, \"tuned_malloc\": $ref_tuned}"
  for mode in exact fast; do
    flag=""
    [ $mode = fast ] && flag=--fast
    /usr/bin/time -f "%e %M" -o "$work/time_$s" "$bin" -q interpolate "$in" -o "$work/out_$s.y4m" --multi "$multi" \
      --pad 128 --model "$model" --no-progress $flag > "$work/lv_$s.txt"
    read -r lv_wall lv_rss < "$work/time_$s"
    lv_out=$(sed -n 's/.*-> .*: \([0-9]*\) frames at.*/\1/p' "$work/lv_$s.txt")
    lv_loop=$(sed -n 's/.* in \([0-9.]*\) s (.*/\1/p' "$work/lv_$s.txt")
    rows+=("{\"size\": \"$s\", \"mode\": \"$mode\", \"reference\": $ref, \"longvid\": {\"frames_out\": $lv_out, \"wall_s\": $lv_wall, \"loop_s\": $lv_loop, \"peak_rss_kib\": $lv_rss}}")
    rm -f "$work/out_$s.y4m"
  done
done
rss_rows=()
for n in $rss; do
  v="$work/rss_$n.mp4"
  if [ ! -f "$v" ]; then
    rm -rf "$work/rss_$n"
    "$bin" -q synth -o "$work/rss_$n" --videos 1 --frames "$n" --size 64 --seed 5 --format mp4
    mv "$work/rss_$n/video_00000.mp4" "$v"
  fi
  /usr/bin/time -f "%e %M" -o "$work/rss_time_$n" "$bin" -q interpolate "$v" -o "$work/rss_out_$n.mp4" \
    --multi "$multi" --model "$model" --no-progress > /dev/null
  read -r wall kib < "$work/rss_time_$n"
  rss_rows+=("{\"frames_in\": $n, \"wall_s\": $wall, \"peak_rss_kib\": $kib}")
  rm -f "$work/rss_out_$n.mp4"
done
summary=$("$py" - "${rows[@]}" "--" "${rss_rows[@]}" <<'PY'
import json, sys
args = sys.argv[1:]
cut = args.index("--")
rows, rss = [json.loads(x) for x in args[:cut]], [json.loads(x) for x in args[cut + 1:]]
print(f"{'size':>10} {'mode':>6} {'frames':>6} {'reference s':>12} {'longvid s':>10} {'(loop s)':>9} {'ref fr/s':>9} {'longvid fr/s':>12} {'speed-up':>8} {'loop speed-up':>13}")
for r in rows:
    refs = r["reference"]
    ref = min(refs.values(), key=lambda x: x["wall_s"])
    r["reference_best"] = ref
    lv = r["longvid"]
    lv["frames_per_s"] = lv["frames_out"] / lv["wall_s"]
    r["speedup"] = lv["frames_per_s"] / ref["frames_per_s"]
    r["loop_speedup"] = ref["wall_s"] / lv["loop_s"]
    print(f"{r['size']:>10} {r['mode']:>6} {lv['frames_out']:>6} {ref['wall_s']:>12.2f} {lv['wall_s']:>10.2f} {lv['loop_s']:>9.2f} "
          f"{ref['frames_per_s']:>9.2f} {lv['frames_per_s']:>12.2f} {r['speedup']:>7.2f}x {r['loop_speedup']:>12.2f}x")
for x in rss:
    print(f"rss: {x['frames_in']} frames in: peak {x['peak_rss_kib'] / 1024:.1f} MiB, {x['wall_s']:.1f} s")
if len(rss) >= 2:
    print(f"rss ratio {rss[-1]['frames_in']} / {rss[0]['frames_in']} frames: {rss[-1]['peak_rss_kib'] / rss[0]['peak_rss_kib']:.3f}")
print(json.dumps({"rows": rows, "rss": rss}))
PY
)
echo "$summary" | sed '$d'
[ -z "$json" ] || echo "$summary" | tail -1 > "$json"
