#!/usr/bin/env bash
# Long-video quality over several seeds (issue: long videos that hold). For each seed:
# `longvid generate --frames N --seed S [ARGS]` with the default model (or --model in ARGS), the
# physical-consistency score per 64-frame window (`longvid synth score`), and a frame strip (one
# frame every 64). Then a table: every window's scores averaged over the seeds, next to real
# synthetic videos of the same length (seed 777, the training distribution), and the last window
# over the first for each score.
#   tools/bench/long_video_eval.sh FRAMES OUT_DIR "SEED..." [generate args...]
#   e.g. tools/bench/long_video_eval.sh 1024 eval1024 "1 2 3 4"
#        tools/bench/long_video_eval.sh 1024 abl "1 2" --anchor none --cond-noise-level 0 --uncond-guidance 0
# Writes OUT/seed_S.{y4m,score.json,strip.png,time}, OUT/real/, OUT/summary.json.
# A seed whose score is already in OUT_DIR is not generated again (add seeds by re-running).
# Env: LONGVID (binary, default build/longvid), REAL_VIDEOS (default 4), KEEP_VIDEO=1 keeps the y4m.
set -euo pipefail
frames=${1:?frames}
out=${2:?out dir}
seeds=${3:?seeds}
shift 3
bin=${LONGVID:-build/longvid}
nreal=${REAL_VIDEOS:-4}
mkdir -p "$out"
for s in $seeds; do
  [ -f "$out/seed_$s.score.json" ] && continue  # measured already (re-run to add seeds)
  echo "generate --frames $frames --seed $s $*" >&2
  /usr/bin/time -f "%M %e" -o "$out/seed_$s.time" "$bin" -q generate --frames "$frames" --seed "$s" \
    -o "$out/seed_$s.y4m" "$@"
  "$bin" -q synth score "$out/seed_$s.y4m" --sprites 3 --json "$out/seed_$s.score.json" > /dev/null
  n=$(( (frames + 63) / 64 ))
  ffmpeg -loglevel error -y -i "$out/seed_$s.y4m" -vf "select='not(mod(n\,64))',tile=${n}x1" -frames:v 1 \
    "$out/seed_$s.strip.png"
  [ "${KEEP_VIDEO:-0}" = 1 ] || rm -f "$out/seed_$s.y4m"
done
if [ ! -f "$out/real/done" ] || [ "$(cat "$out/real/done")" != "$frames $nreal" ]; then
  rm -rf "$out/real"
  "$bin" -q synth -o "$out/real" --videos "$nreal" --frames "$frames" --size 64 --seed 777 --format y4m
  for v in "$out"/real/video_*.y4m; do
    "$bin" -q synth score "$v" --sprites 3 --json "${v%.y4m}.score.json" > /dev/null
    rm -f "$v"
  done
  echo "$frames $nreal" > "$out/real/done"
fi
python3 - "$out" "$frames" "$*" $seeds <<'PY'
import glob, json, os, sys
out, frames, args, seeds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
keys = ["sprites_mean", "count_ok_frac", "color_error", "accel_mean", "break_frac", "noise_frac"]
names = ["sprites", "count ok", "colour err", "accel", "breaks", "noise"]
gens = [json.load(open(os.path.join(out, f"seed_{s}.score.json"))) for s in seeds]
reals = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, "real", "*.score.json")))]
def mean_windows(sets):
    n = min(len(x["windows"]) for x in sets)
    return [{k: sum(x["windows"][i][k] for x in sets) / len(sets) for k in keys + ["start", "end"]} for i in range(n)]
g, r = mean_windows(gens), mean_windows(reals)
times = []
for s in seeds:
    rss, wall = open(os.path.join(out, f"seed_{s}.time")).read().split()
    times.append((float(wall), int(rss) / 1024))
per_seed = {s: {"first": {k: x["windows"][0][k] for k in keys}, "last": {k: x["windows"][-1][k] for k in keys},
                "overall": {k: x["overall"][k] for k in keys}} for s, x in zip(seeds, gens)}
ratio = {k: (g[-1][k] / g[0][k] if g[0][k] else None) for k in keys}
json.dump({"frames": frames, "args": args, "seeds": seeds, "wall_s": [t[0] for t in times],
           "peak_rss_mib": [t[1] for t in times], "windows_gen": g, "windows_real": r, "per_seed": per_seed,
           "last_over_first": ratio}, open(os.path.join(out, "summary.json"), "w"), indent=1)
print(f"frames {frames}, seeds {' '.join(seeds)}, args '{args}'; wall {', '.join(f'{t[0]:.0f}' for t in times)} s; "
      f"peak RSS {max(t[1] for t in times):.0f} MiB")
print("| frames | " + " | ".join(f"{n} (gen / real)" for n in names) + " |")
print("| --- |" + " --- |" * len(names))
for a, b in zip(g, r):
    print(f"| {int(a['start'])}–{int(a['end'])} | " + " | ".join(f"{a[k]:.2f} / {b[k]:.2f}" for k in keys) + " |")
print("| last / first | " + " | ".join("n/a" if ratio[k] is None else f"{ratio[k]:.2f}" for k in keys) + " |")
PY
