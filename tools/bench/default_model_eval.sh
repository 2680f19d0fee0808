#!/usr/bin/env bash
# The default model's long-video figures (issue #6):
#   1. `longvid generate --frames N` with the bundled model: wall time and peak RSS;
#   2. the physical-consistency score (longvid synth score: sprites found by colour segmentation,
#      colour error, motion smoothness, track breaks) per 64-frame window of the generated video,
#      next to the same score of real synthetic videos of the same length (the training
#      distribution: longvid synth, 64x64, 3 sprites; scored without their truth, like the
#      generated one), so the drift over time can be read window by window.
#   tools/bench/default_model_eval.sh [FRAMES=1024] [OUT_DIR=default_model_eval] [SEED=1] [REAL_VIDEOS=4]
# Writes OUT/gen.mp4, OUT/gen.score.json, OUT/real/*.score.json, OUT/summary.json and prints a table.
set -euo pipefail
frames=${1:-1024}
out=${2:-default_model_eval}
seed=${3:-1}
nreal=${4:-4}
bin=${LONGVID:-build/longvid}
mkdir -p "$out"
echo "generate --frames $frames (default model, seed $seed)" >&2
/usr/bin/time -f "%M %e" -o "$out/time.txt" "$bin" -q generate --frames "$frames" --seed "$seed" -o "$out/gen.mp4" \
  --stats "$out/gen.stats.json"
read -r rss_kb wall_s < "$out/time.txt"
"$bin" -q synth score "$out/gen.mp4" --sprites 3 --json "$out/gen.score.json" > /dev/null
rm -rf "$out/real"
"$bin" -q synth -o "$out/real" --videos "$nreal" --frames "$frames" --size 64 --seed 777 --format mp4
for v in "$out"/real/video_*.mp4; do
  "$bin" -q synth score "$v" --sprites 3 --json "${v%.mp4}.score.json" > /dev/null
done
python3 - "$out" "$rss_kb" "$wall_s" "$frames" <<'PY'
import json, glob, sys, os
out, rss_kb, wall_s, frames = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
gen = json.load(open(os.path.join(out, "gen.score.json")))
reals = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, "real", "*.score.json")))]
keys = ["sprites_mean", "count_ok_frac", "color_error", "accel_mean", "break_frac"]
def windows(s): return s["windows"]
rows = []
for i, w in enumerate(windows(gen)):
    r = {"start": w["start"], "end": w["end"]}
    for k in keys:
        vals = [windows(x)[i][k] for x in reals if i < len(windows(x))]
        r["gen_" + k] = w[k]
        r["real_" + k] = sum(vals) / len(vals) if vals else None
    rows.append(r)
summary = {"frames": frames, "wall_s": wall_s, "peak_rss_mib": rss_kb / 1024.0, "real_videos": len(reals),
           "gen_overall": {k: gen["overall"][k] for k in keys},
           "real_overall": {k: sum(x["overall"][k] for x in reals) / len(reals) for k in keys},
           "windows": rows}
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
print(f"generate --frames {frames}: wall {wall_s:.1f} s, peak RSS {rss_kb/1024:.1f} MiB")
print("window      sprites(gen/real)  count_ok(gen/real)  colour_err(gen/real)  accel(gen/real)  breaks(gen/real)")
for r in rows:
    print(f"{r['start']:5d}-{r['end']:<5d} {r['gen_sprites_mean']:6.2f}/{r['real_sprites_mean']:<6.2f}     "
          f"{r['gen_count_ok_frac']:5.2f}/{r['real_count_ok_frac']:<5.2f}        "
          f"{r['gen_color_error']:6.1f}/{r['real_color_error']:<6.1f}        "
          f"{r['gen_accel_mean']:5.2f}/{r['real_accel_mean']:<5.2f}      {r['gen_break_frac']:5.2f}/{r['real_break_frac']:<5.2f}")
PY
