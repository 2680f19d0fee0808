#!/usr/bin/env bash
# Calibration of the prompt-adherence score (train/synth_caption.h): N synthetic 16-frame videos,
# each scored against its own caption (what a perfect text-to-video model would make) and against
# the next video's caption (a model that ignores the prompt), plus "three sprites" (count only).
#   tools/bench/prompt_adherence_check.sh [N=100] [OUT_DIR=/tmp/prompt_check]
# Env: LONGVID (binary, default build/longvid). Prints the mean of each part of the score.
set -euo pipefail
n=${1:-100}
out=${2:-/tmp/prompt_check}
bin=${LONGVID:-build/longvid}
rm -rf "$out"
mkdir -p "$out"
"$bin" -q synth -o "$out/videos" --videos "$n" --frames 16 --size 64 --seed 31337 --format y4m
python3 - "$bin" "$out" "$n" <<'PY'
import json, subprocess, sys
bin, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = json.load(open(f"{out}/videos/dataset.json"))["files"]
def score(video, prompt):
    j = f"{out}/s.json"
    subprocess.run([bin, "-q", "synth", "score", video, "--prompt", prompt, "--json", j], check=True,
                   stdout=subprocess.DEVNULL)
    return json.load(open(j))["prompt"]
rows = {"own caption": [], "another video's caption": [], "\"three sprites\"": []}
for i, f in enumerate(files):
    v = f"{out}/videos/{f['video']}"
    rows["own caption"].append(score(v, f["caption"]))
    rows["another video's caption"].append(score(v, files[(i + 1) % len(files)]["caption"]))
    rows["\"three sprites\""].append(score(v, "three sprites"))
print(f"{n} synthetic videos of 16 frames (seed 31337)")
print("| prompt | count right | colours right | motion right | score |")
print("|---|---:|---:|---:|---:|")
for name, r in rows.items():
    m = lambda k: sum(x[k] for x in r) / len(r)
    mo = [x["motion_ok"] for x in r if x["motion_ok"] >= 0]
    mot = f"{sum(mo) / len(mo):.3f}" if mo else "n/a"
    print(f"| {name} | {m('count_ok'):.3f} | {m('colors_ok'):.3f} | {mot} | {m('score'):.3f} |")
PY
