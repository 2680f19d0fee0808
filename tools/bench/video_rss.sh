#!/usr/bin/env bash
# Streaming check for the video writers: memory must not grow with the number of frames.
# Pipes N frames (default 10,000) of 256x256 testsrc2 from the ffmpeg CLI as y4m into
#   longvid video convert - OUT --rss-every 1000
# for OUT = .mp4 (x264, preset medium unless PRESET is set) and .y4m (our C444p16 writer, 6 bytes
# per pixel: ~3.9 GB for 10,000 frames, deleted afterwards), and prints VmRSS/VmHWM after 1,000
# and after N frames, plus the throughput.
# usage: tools/bench/video_rss.sh [N] [SIZE]    (env: LONGVID=path/to/longvid, PRESET=medium)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
longvid="${LONGVID:-$root/build/longvid}"
n="${1:-10000}"
size="${2:-256x256}"
preset="${PRESET:-medium}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/longvid-rss.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

run() {  # run OUT_EXT EXTRA...
  local ext=$1; shift
  local log="$tmp/log.$ext"
  local t0=$(date +%s.%N)
  ffmpeg -v error -f lavfi -i "testsrc2=size=$size:rate=24" -frames:v "$n" -pix_fmt yuv420p -f yuv4mpegpipe - |
    "$longvid" video convert - "$tmp/out.$ext" --rss-every 1000 "$@" 2>"$log"
  local t1=$(date +%s.%N)
  local first=$(grep '^frames=1000 ' "$log" | head -1)
  local atn=$(grep "^frames=$n " "$log" | head -1)
  local last=$(grep '^done ' "$log")
  local rss1=$(sed -E 's/.*VmRSS=([0-9]+).*/\1/' <<<"$first") hwm1=$(sed -E 's/.*VmHWM=([0-9]+).*/\1/' <<<"$first")
  local rssN=$(sed -E 's/.*VmRSS=([0-9]+).*/\1/' <<<"$atn") hwmN=$(sed -E 's/.*VmHWM=([0-9]+).*/\1/' <<<"$last")
  local secs=$(sed -E 's/.*seconds=([0-9.]+).*/\1/' <<<"$last")
  local wall=$(bc -l <<<"$t1-$t0")
  last_secs=$wall
  local bytes=$(stat -c %s "$tmp/out.$ext")
  printf '%-5s %6d frames %s: VmRSS %7.1f MiB @1000 -> %7.1f MiB @%d (%+.1f MiB); VmHWM %7.1f -> %7.1f MiB; encode loop %.1f s, wall %.1f s (%.0f frames/s incl. source); %.1f MB\n' \
    "$ext" "$n" "$size" "$(bc -l <<<"$rss1/1024")" "$(bc -l <<<"$rssN/1024")" "$n" "$(bc -l <<<"($rssN-$rss1)/1024")" \
    "$(bc -l <<<"$hwm1/1024")" "$(bc -l <<<"$hwmN/1024")" "$secs" "$wall" "$(bc -l <<<"$n/$wall")" "$(bc -l <<<"$bytes/1000000")"
  if [ -n "${VERBOSE:-}" ]; then cat "$log"; fi
  rm -f "$tmp/out.$ext"
}

# Reference: the ffmpeg CLI encoding the same stream with the same x264 settings (peak RSS, time).
reference() {
  local t0=$(date +%s.%N)
  ffmpeg -v error -f lavfi -i "testsrc2=size=$size:rate=24" -frames:v "$n" -pix_fmt yuv420p -f yuv4mpegpipe - |
    /usr/bin/time -f "%M" -o "$tmp/ref.time" ffmpeg -v error -f yuv4mpegpipe -i - -c:v libx264 -preset "$preset" \
      -crf 18 -threads "${THREADS:-0}" -movflags +faststart -y "$tmp/ref.mp4"
  local t1=$(date +%s.%N)
  local secs=$(bc -l <<<"$t1-$t0")
  printf 'ref   %6d frames %s: ffmpeg CLI libx264 %s crf 18: peak RSS %.1f MiB; %.1f s (%.0f frames/s); wall-time ratio longvid/ffmpeg %.2f\n' \
    "$n" "$size" "$preset" "$(bc -l <<<"$(cat "$tmp/ref.time")/1024")" "$secs" "$(bc -l <<<"$n/$secs")" \
    "$(bc -l <<<"$mp4_secs/$secs")"
  rm -f "$tmp/ref.mp4"
}

echo "longvid video writer memory, $(nproc) cores, $(date -u +%FT%TZ)"
run mp4 --preset "$preset" --threads "${THREADS:-0}"
mp4_secs=$last_secs
run y4m
if [ -z "${NO_REFERENCE:-}" ]; then reference; fi
