#!/usr/bin/env bash
# What an autoencoder keeps of the synthetic sprites: N held-out `longvid synth` videos (seed 12,
# 1-3 sprites, 16 frames, the held-out set of text_adherence.sh) reconstructed by each AE given,
# scored by the physical-consistency scorer against their own captions (train/synth_caption.h:
# sprite count, colours, motions). A diffusion model on an AE's latents cannot score better than the
# AE's reconstructions, so this is the ceiling of every model on it (colours especially: an AE that
# loses hue caps a text model's colour adherence). Also the PSNR of the reconstructions.
#   tools/bench/ae_colour.sh N OUT AE [AE ...]     (AE: a train-vae model, or a model file holding one)
# Env: LONGVID (binary, default build/longvid).
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 N OUT AE [AE ...]" >&2; exit 2; }
n=$1 out=$2
shift 2
bin=${LONGVID:-build/longvid}
mkdir -p "$out"
"$bin" -q synth -o "$out/heldout" --videos "$n" --frames 16 --size 64 --seed 12 --sprites 1-3 --format y4m
echo "| autoencoder | count right | colours right | motion right | score | PSNR (dB) |"
echo "|---|---:|---:|---:|---:|---:|"
k=0
for ae in "$@"; do
  k=$((k + 1))
  rec="$out/rec$k"
  mkdir -p "$rec"
  for f in "$out"/heldout/video_*.y4m; do
    "$bin" -q vae reconstruct --vae "$ae" "$f" -o "$rec/$(basename "$f")" > /dev/null
  done
  python3 - "$bin" "$out" "$rec" "$n" "$ae" <<'PY'
import json, math, subprocess, sys
bin, out, rec, n, ae = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
files = json.load(open(f"{out}/heldout/dataset.json"))["files"][:n]
rows, psnr = [], []
for f in files:
    j = f"{rec}/score.json"
    subprocess.run([bin, "-q", "synth", "score", f"{rec}/{f['video']}", "--prompt", f["caption"], "--json", j],
                   check=True, stdout=subprocess.DEVNULL)
    rows.append(json.load(open(j))["prompt"])
    # PSNR of the 8-bit frames: ffmpeg's psnr filter, mean over the video.
    r = subprocess.run(["ffmpeg", "-v", "info", "-nostats", "-i", f"{out}/heldout/{f['video']}", "-i",
                        f"{rec}/{f['video']}", "-lavfi", "[0:v]format=rgb24[a];[1:v]format=rgb24[b];[a][b]psnr",
                        "-f", "null", "-"], capture_output=True, text=True)
    line = [l for l in r.stderr.splitlines() if "PSNR" in l and "average:" in l]
    if line:
        v = line[-1].split("average:")[1].split()[0]
        psnr.append(float("inf") if v == "inf" else float(v))
m = lambda k: sum(x[k] for x in rows) / len(rows)
mo = [x["motion_ok"] for x in rows if x["motion_ok"] >= 0]
mot = f"{sum(mo) / len(mo):.3f}" if mo else "n/a"
ps = f"{sum(psnr) / len(psnr):.2f}" if psnr else "n/a"
print(f"| {ae} | {m('count_ok'):.3f} | {m('colors_ok'):.3f} | {mot} | {m('score'):.3f} | {ps} |")
PY
done
