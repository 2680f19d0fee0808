#!/usr/bin/env bash
# Prompt adherence of a text-conditioned model (issue 14): N held-out captions of `longvid synth`
# videos as prompts, one video each, scored with the physical-consistency scorer against its prompt
# (train/synth_caption.h: are the sprite count, the colours and the motions the prompt's?), beside
# the same model and seeds with the empty prompt (what the model makes when it ignores the text),
# the score of the real held-out videos against their own captions (a perfect model), and of their
# reconstructions by the model's autoencoder (the ceiling of any model on those latents). The last
# column is the share of videos with a noise frame (the scorer's noise_frac > 0).
#   tools/bench/text_adherence.sh [MODEL=assets/default/text/model.safetensors] [N=100] [OUT=/tmp/text_adherence]
# Env: LONGVID (binary, default build/longvid), FRAMES (16), SEED (1), CFG (model default), EXTRA (more
# generate options), VAE (the autoencoder for the reconstruction row; default: the default model). Held-out data: synth seed 12, 1-3 sprites (the text model trained on seed 11).
set -euo pipefail
model=${1:-assets/default/text/model.safetensors}
n=${2:-100}
out=${3:-/tmp/text_adherence}
bin=${LONGVID:-build/longvid}
frames=${FRAMES:-16}
seed=${SEED:-1}
cfg=()
[ -n "${CFG:-}" ] && cfg=(--cfg-scale "$CFG")
rm -rf "$out"
mkdir -p "$out"
"$bin" -q synth -o "$out/heldout" --videos "$n" --frames "$frames" --size 64 --seed 12 --sprites 1-3 --format y4m
python3 - "$out" "$n" <<'PY'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
files = json.load(open(f"{out}/heldout/dataset.json"))["files"][:n]
open(f"{out}/prompts.txt", "w").write("".join(f["caption"] + "\n" for f in files))
PY
t0=$(date +%s)
"$bin" -q generate --model "$model" --prompt-file "$out/prompts.txt" --frames "$frames" --seed "$seed" \
  "${cfg[@]}" ${EXTRA:-} -o "$out/p.y4m"
t1=$(date +%s)
"$bin" -q generate --model "$model" -p "" --n-samples "$n" --frames "$frames" --seed "$seed" \
  "${cfg[@]}" ${EXTRA:-} -o "$out/e.y4m"
t2=$(date +%s)
vae=${VAE:-assets/default/model.safetensors}
for f in "$out"/heldout/video_*.y4m; do
  "$bin" -q vae reconstruct --vae "$vae" "$f" -o "${f%.y4m}.rec.y4m" > /dev/null
done
python3 - "$bin" "$out" "$n" "$((t1 - t0))" "$((t2 - t1))" <<'PY'
import json, subprocess, sys
bin, out, n, tp, te = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
files = json.load(open(f"{out}/heldout/dataset.json"))["files"][:n]
def score(video, prompt):
    j = f"{out}/s.json"
    subprocess.run([bin, "-q", "synth", "score", video, "--prompt", prompt, "--json", j], check=True,
                   stdout=subprocess.DEVNULL)
    d = json.load(open(j))
    return dict(d["prompt"], noise=1.0 if d["overall"]["noise_frac"] > 0 else 0.0)
rows = {"the prompt": [], "the empty prompt": [], "real videos (own caption)": [],
        "real videos through the autoencoder (own caption)": []}
for k, f in enumerate(files):
    rows["the prompt"].append(score(f"{out}/p_{k:03d}.y4m", f["caption"]))
    rows["the empty prompt"].append(score(f"{out}/e_{k:03d}.y4m", f["caption"]))
    rows["real videos (own caption)"].append(score(f"{out}/heldout/{f['video']}", f["caption"]))
    rec = f"{out}/heldout/{f['video']}".replace(".y4m", ".rec.y4m")
    rows["real videos through the autoencoder (own caption)"].append(score(rec, f["caption"]))
json.dump(rows, open(f"{out}/scores.json", "w"))
print(f"{n} held-out captions as prompts; generation {tp} s with prompts, {te} s with the empty prompt")
print("| video made with | count right | colours right | motion right | score | videos with noise frames |")
print("|---|---:|---:|---:|---:|---:|")
for name, r in rows.items():
    m = lambda k: sum(x[k] for x in r) / len(r)
    mo = [x["motion_ok"] for x in r if x["motion_ok"] >= 0]
    mot = f"{sum(mo) / len(mo):.3f}" if mo else "n/a"
    print(f"| {name} | {m('count_ok'):.3f} | {m('colors_ok'):.3f} | {mot} | {m('score'):.3f} | {m('noise'):.2f} |")
PY
