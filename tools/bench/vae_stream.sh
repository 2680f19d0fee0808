#!/usr/bin/env bash
# Streaming decode of the LVDM 3D autoencoder (random weights, n_hiddens 16, [4, 8, 8] strides):
#  (a) decode_stream vs one full decode of the same 256 latent frames (8x8 latent): max / mean abs
#      error and PSNR ([-1, 1] video, peak-to-peak 2) per window:overlap;
#  (b) peak RSS of a streamed decode of 64 vs 1,024 latent frames (256 vs 4,096 frames at 64x64)
#      into a y4m writer (on /tmp, deleted), with the CLI defaults; the ratio must be <= 1.2.
#  (c) encode_stream vs one full encode of a synthetic video (64 latent frames, 8x8 latent): max abs
#      and relative error of the posterior mean / logvar per window:overlap (ENC_CONFIGS);
#  (d) peak RSS of encode_stream over 64 vs 1,024 latent frames (256 vs 4,096 frames at 64x64),
#      frames generated chunk by chunk, latents discarded; the ratio must be <= 1.2;
#  (e) spatial tiling vs untiled encode / decode for both autoencoders (256x256 frames).
# usage: tools/bench/vae_stream.sh [seams|rss|encode-seams|encode-rss|tiles|all]   (env: LONGVID=path/to/longvid, CONFIGS=4:0,8:2,..., ENC_CONFIGS, TILE_CONFIGS)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
longvid="${LONGVID:-$root/build/longvid}"
what="${1:-all}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/longvid-vae.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [ "$what" = seams ] || [ "$what" = all ]; then
  "$longvid" vae bench seams --latent-frames "${LATENT_FRAMES:-256}" ${CONFIGS:+--configs "$CONFIGS"}
fi
if [ "$what" = rss ] || [ "$what" = all ]; then
  declare -A hwm
  for n in 64 1024; do
    line=$("$longvid" vae bench rss --latent-frames "$n" -o "$tmp/out.y4m")
    echo "$line"
    hwm[$n]=$(sed -E 's/.*peak_rss_kib ([0-9]+).*/\1/' <<<"$line")
    rm -f "$tmp/out.y4m"
  done
  ratio=$(bc -l <<<"${hwm[1024]}/${hwm[64]}")
  printf 'peak RSS 1024 / 64 latent frames: %.3f (%s)\n' "$ratio" "$(bc -l <<<"$ratio <= 1.2" | sed 's/1/ok, <= 1.2/;s/^0$/FAIL, > 1.2/')"
fi
if [ "$what" = encode-seams ] || [ "$what" = all ]; then
  "$longvid" vae bench encode-seams --latent-frames "${ENC_LATENT_FRAMES:-64}" ${ENC_CONFIGS:+--configs "$ENC_CONFIGS"}
fi
if [ "$what" = encode-rss ] || [ "$what" = all ]; then
  declare -A ehwm
  for n in 64 1024; do
    line=$("$longvid" vae bench encode-rss --latent-frames "$n")
    echo "$line"
    ehwm[$n]=$(sed -E 's/.*peak_rss_kib ([0-9]+).*/\1/' <<<"$line")
  done
  ratio=$(bc -l <<<"${ehwm[1024]}/${ehwm[64]}")
  printf 'encode peak RSS 1024 / 64 latent frames: %.3f (%s)\n' "$ratio" "$(bc -l <<<"$ratio <= 1.2" | sed 's/1/ok, <= 1.2/;s/^0$/FAIL, > 1.2/')"
fi
if [ "$what" = tiles ] || [ "$what" = all ]; then
  "$longvid" vae bench tiles ${TILE_CONFIGS:+--configs "$TILE_CONFIGS"}
fi
