#!/usr/bin/env bash
# The paper's four Latte variants (Latte, Sec. 3.2 / Table ablation), trained here at equal compute
# (same data, steps, batch, optimiser, seed, width and depth) with LVDM's frame-mask objective, each
# then scored on long videos (tools/bench/long_video_eval.sh: physical consistency per 64-frame
# window against real synthetic videos).
#   tools/bench/latte_variants.sh DATA AE OUT [STEPS] [EVAL_FRAMES] ["SEEDS"] [VARIANTS]
#   e.g. tools/bench/latte_variants.sh synth64 assets/default/model.safetensors latte_runs 2000 256 "1 2"
# DATA: `longvid synth -o DATA --videos 48 --frames 256 --size 64 --seed 1 --sprites 3 --format y4m`;
# AE: the default model (its first_stage_model is the frozen autoencoder).
# Writes OUT/v{1..4}/ (the run: model.safetensors, log.jsonl, train.time), OUT/v{N}_eval/ and
# OUT/summary.md (one row per variant: parameters, s/step, loss of the last 10% of steps, and the
# scores averaged over every window and seed, and over the last window).
# Env: LONGVID (binary, default build/longvid), LATTE (size, default tiny), EXTRA (more train args).
set -euo pipefail
data=${1:?data}
ae=${2:?ae}
out=${3:?out}
steps=${4:-2000}
frames=${5:-256}
seeds=${6:-"1 2"}
variants=${7:-"1 2 3 4"}
bin=${LONGVID:-build/longvid}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
for v in $variants; do
  run="$out/v$v"
  if [ ! -f "$run/train.time" ]; then
    rm -rf "$run"
    /usr/bin/time -f "%M %e" -o "$out/v$v.train.time" "$bin" -q train --data "$data" --ae "$ae" \
      --latent-cache "$out/cache.safetensors" -o "$run" --backbone latte --latte "${LATTE:-tiny}" --variant "$v" \
      --frames 48 --latent-frame-stride 3 --interp-consecutive --p-pred 0.4 --p-interp 0.4 --size 64 --batch 8 \
      --lr 5e-4 --warmup 100 --ema 0.999 --save-every 500 --steps "$steps" ${EXTRA:-}
    mv "$out/v$v.train.time" "$run/train.time"
  fi
  mkdir -p "$out/v${v}_eval"
  LONGVID="$bin" "$here/long_video_eval.sh" "$frames" "$out/v${v}_eval" "$seeds" --model "$run/model.safetensors" \
    > "$out/v${v}_eval/table.md"
done
python3 - "$out" "$variants" <<'PY' | tee "$out/summary.md"
import json, os, struct, sys
out, variants = sys.argv[1], sys.argv[2].split()
names = {"1": "interleaved (release)", "2": "late fusion", "3": "factorized attention", "4": "factorized heads"}
keys = ["sprites_mean", "count_ok_frac", "color_error", "accel_mean", "break_frac"]
def trained_params(path):  # model.diffusion_model.* without the fixed sin-cos tables
    with open(path, "rb") as f:
        h = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    n = 0
    for k, v in h.items():
        if k.startswith("model.diffusion_model.") and not k.endswith(("pos_embed", "temp_embed")):
            c = 1
            for d in v["shape"]:
                c *= d
            n += c
    return n
print("| variant | trained params | s/step | loss (last 10%) | sprites | count ok | colour err | accel | breaks "
      "| last-window accel | last-window breaks |")
print("| --- |" + " --- |" * 10)
for v in variants:
    run = os.path.join(out, f"v{v}")
    log = [json.loads(l) for l in open(os.path.join(run, "log.jsonl"))]
    n = max(1, len(log) // 10)
    loss = sum(x["loss"] for x in log[-n:]) / n
    sps = sum(x["seconds"] for x in log) / len(log)
    g = json.load(open(os.path.join(out, f"v{v}_eval", "summary.json")))["windows_gen"]
    m = {k: sum(w[k] for w in g) / len(g) for k in keys}
    print(f"| {v} {names.get(v, '')} | {trained_params(os.path.join(run, 'model.safetensors')) / 1e6:.2f}M | {sps:.3f} "
          f"| {loss:.4f} | {m['sprites_mean']:.2f} | {m['count_ok_frac']:.2f} | {m['color_error']:.1f} "
          f"| {m['accel_mean']:.2f} | {m['break_frac']:.2f} | {g[-1]['accel_mean']:.2f} | {g[-1]['break_frac']:.2f} |")
PY
