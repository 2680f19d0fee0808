#!/usr/bin/env bash
# Memory of long-video generation must not grow with the number of frames: runs
#   longvid generate --frames N (random-weight tiny model, 64x64, hierarchical, DDIM STEPS steps)
# for N = SHORT and LONG (default 256 and 4096) and prints peak RSS (GNU time's %M) and wall time
# of each, and their ratio.
# usage: tools/bench/long_rss.sh [SHORT] [LONG]   (env: LONGVID=path/to/longvid, STEPS=2, EXT=mp4)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
longvid="${LONGVID:-$root/build/longvid}"
short="${1:-256}"
long="${2:-4096}"
steps="${STEPS:-2}"
ext="${EXT:-mp4}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/longvid-longrss.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
declare -A rss secs
for n in "$short" "$long"; do
  /usr/bin/time -f "%M %e" -o "$tmp/time.$n" "$longvid" -q generate --model random --frames "$n" --steps "$steps" --seed 1 \
    --random-latent-size 8 --mode hierarchical -o "$tmp/out.$n.$ext"
  read -r rss[$n] secs[$n] < "$tmp/time.$n"
  frames=$("$longvid" video info "$tmp/out.$n.$ext" | sed -E 's/.* ([0-9]+) frames.*/\1/')
  printf 'frames=%-6s written=%-6s peak_rss=%8.1f MiB  wall=%7.1f s\n' "$n" "$frames" "$(awk -v k="${rss[$n]}" 'BEGIN{print k/1024}')" "${secs[$n]}"
done
printf 'peak RSS ratio %s/%s frames: %.3f\n' "$long" "$short" "$(awk -v a="${rss[$long]}" -v b="${rss[$short]}" 'BEGIN{print a/b}')"
