#!/usr/bin/env bash
# longvid vs the OFFICIAL LVDM PyTorch code (YingqingHe/LVDM, imported from --lvdm-src, never
# copied here): the same checkpoint, shapes, DDIM steps, seed, thread count and device (CPU, or the GPU with --device cuda), timed
# side by side; the uint8 frames of both compared (IDENTICAL, else max abs difference and PSNR).
#
# usage: tools/bench/vs_official.sh --lvdm-src PATH [--threads 2] [--steps 5] [--seed 1]
#            [--rows sky,sky_pred,sky_interp,default,vae64] [--work DIR] [--python PY]
#            [--longvid BIN] [--latent-size N] [--model-channels N] [--vae-latent-frames 64] [--vae-window 16]
#            [--iters 3] [--repeat 1] [--mode eager|compile|autocast] [--exact-check] [--json OUT.json]
#            [--device cpu|cuda] [--omp-wait passive|default]
#
# Rows (each builds its checkpoint once, cached in --work):
#   sky         configs/lvdm_short/sky.yaml (LatentDiffusion, 3D U-Net ch 256, 3D AE [4, 8, 8]) with
#               random weights; one clip of 16 frames 256x256 (4 latents of 32x32), DDIM --steps
#               eta 1 + decode. official: tools/bench/official_lvdm.py sample (sample_uncond.py's
#               path); longvid: longvid generate --model CKPT --config YAML --decode-window 0.
#   sky_pred    configs/lvdm_long/sky_pred.yaml (FrameInterpPredLatentDiffusion, concat-adm-mask):
#               one unconditional clip (zero mask, autoregressive_pred's first clip without the
#               guidance pass) as above, and a row sky_pred.fwd: --iters forwards of apply_model
#               with the prediction condition (mask on latent 0, noisy condition latents, s 100).
#   sky_interp  configs/lvdm_long/sky_interp.yaml: one clip (5 latents = 20 frames) and
#               sky_interp.fwd (interpolation condition: first + last latent).
#   default     the bundled assets/default/model.safetensors (longvid-trained, config in its
#               metadata 'longvid.config'): official_lvdm.py from-safetensors writes the YAML and a
#               .ckpt for the official code; longvid runs the safetensors itself with that YAML.
#   vae64       the sky AE decoding --vae-latent-frames random latents (64 = 256 frames 256x256):
#               official decode_first_stage(max_z_t=W) (non-overlapping windows of W latents;
#               --vae-window 0: all at once, what the official long-video script does: ~20 GB
#               at 64 latents) vs longvid vae decode --window W --overlap 0 (both quantised by
#               rounding, as longvid vae decode does).
# --omp-wait: OMP_WAIT_POLICY of both sides. passive (the default, what every figure up to session 17
# used): idle OpenMP threads sleep at once. default: the variable is unset, as in a user's shell,
# so libgomp's threads spin a while before they sleep; small models (the default row) run their
# many short ops about twice as fast that way, on both sides.
# --device cuda (rows sky, sky_pred, sky_interp, default): both sides on the GPU (the official
# model .cuda() as its scripts do, CUDA-synchronised timers; longvid --device cuda). The official
# code then draws its noise from the CUDA generator and longvid from its CPU generator of the
# seed, so the frames are not compared there: the CUDA parity tests check longvid's GPU numerics.
# --exact-check (untimed, clip rows): one more official run with QKVAttention computed in
# longvid's op order (SDPA / bmm instead of einsum; official_lvdm.py sample --attention
# longvid-order), compared too: IDENTICAL there means every other part (seed and noise order, DDIM
# spacing and eta, schedule, decode, uint8 conversion) is bit-exact and the plain comparison's
# differences are the attention kernels' float rounding.
# *.fwd rows: longvid's side is `longvid bench --cases denoiser` when the binary has the bench
# command (its conditioning: a prediction clip, latent 0 given, s 0 -- the same compute as either
# official condition), else the row is marked "official only".
#
# Times: "load" = process start to model loaded (the 'loaded' line either side prints, Python's
# imports included); "run" = sampling + decode + uint8 (official: its own timers; longvid: from
# its 'loaded ...' line to exit, which also writes the y4m: conservative for longvid); "wall" = the whole
# process, both measured the same way (tools/bench/official_lvdm.py timeit). ratio = official /
# longvid (> 1: longvid faster). Validation settings (not the measurement): --latent-size N
# shrinks the spatial latent of the sky rows (the weights do not depend on it), --model-channels N
# narrows their U-Net (another, smaller checkpoint). Nothing is fetched or committed; the
# random-weight checkpoints (sky*: ~4.5 GB each with the EMA copy; official peak RSS ~9 GB) and all outputs stay in --work.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
die() { echo "vs_official.sh: $*" >&2; exit 2; }

lvdm_src=""
threads=2
steps=5
seed=1
rows="sky,sky_pred,sky_interp,default,vae64"
work="${TMPDIR:-/tmp}/longvid-vs-official"
py=""
longvid="$root/build/longvid"
latent_size=0
model_channels=0
vae_frames=64
vae_window=16
iters=3
repeat=1
mode=eager
exact_check=0
json_out=""
ckpt_seed=0
device=cpu
omp_wait=passive
while [ $# -gt 0 ]; do
  case "$1" in --exact-check|-h|--help) ;; *) [ $# -ge 2 ] || die "$1: missing value (--help lists the options)" ;; esac
  case "$1" in
    --lvdm-src) lvdm_src="${2-}"; shift 2 ;;
    --threads) threads="${2-}"; shift 2 ;;
    --steps) steps="${2-}"; shift 2 ;;
    --seed) seed="${2-}"; shift 2 ;;
    --rows) rows="${2-}"; shift 2 ;;
    --work) work="${2-}"; shift 2 ;;
    --python) py="${2-}"; shift 2 ;;
    --longvid) longvid="${2-}"; shift 2 ;;
    --latent-size) latent_size="${2-}"; shift 2 ;;
    --model-channels) model_channels="${2-}"; shift 2 ;;
    --vae-latent-frames) vae_frames="${2-}"; shift 2 ;;
    --vae-window) vae_window="${2-}"; shift 2 ;;
    --iters) iters="${2-}"; shift 2 ;;
    --repeat) repeat="${2-}"; shift 2 ;;
    --mode) mode="${2-}"; shift 2 ;;
    --exact-check) exact_check=1; shift ;;
    --json) json_out="${2-}"; shift 2 ;;
    --device) device="${2-}"; shift 2 ;;
    --omp-wait) omp_wait="${2-}"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d;s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (--help lists the options)" ;;
  esac
done

# ---- checks: one clear line each -------------------------------------------------------------
[ -n "$lvdm_src" ] || lvdm_src="${LVDM_SRC:-}"
[ -n "$lvdm_src" ] || die "give the official LVDM code with --lvdm-src PATH (a checkout or git archive of YingqingHe/LVDM, e.g. git -C LVDM archive d251dcc | tar -x -C /tmp/lvdm-src)"
for f in lvdm/models/ddpm3d.py lvdm/samplers/ddim.py scripts/sample_utils.py scripts/sample_long_videos_utils.py \
         configs/lvdm_short/sky.yaml configs/lvdm_long/sky_pred.yaml configs/lvdm_long/sky_interp.yaml; do
  [ -f "$lvdm_src/$f" ] || die "--lvdm-src $lvdm_src: no $f there (expected a checkout of YingqingHe/LVDM at d251dcc)"
done
lvdm_src=$(cd "$lvdm_src" && pwd)
for n in "$threads" "$steps" "$seed" "$latent_size" "$model_channels" "$vae_frames" "$vae_window" "$iters" "$repeat"; do
  [[ "$n" =~ ^[0-9]+$ ]] || die "'$n': expected a non-negative integer"
done
[ "$threads" -ge 1 ] && [ "$steps" -ge 1 ] && [ "$steps" -le 1000 ] && [ "$iters" -ge 1 ] && [ "$repeat" -ge 1 ] || die "--threads, --steps (<= 1000), --iters and --repeat must be >= 1"
case "$mode" in eager|compile|autocast) ;; *) die "--mode $mode: expected eager, compile or autocast" ;; esac
# The official make_ddim_timesteps('uniform'): range(0, 1000, 1000 // S) + 1 (all these configs
# have 1000 timesteps): S = 3, 9, 27, ... give timestep 1000 (IndexError in the official code), and
# S that does not divide 1000 gives more than S steps (7 -> 8).
official_steps=$(( (999 / (1000 / steps)) + 1 ))
[ $(( (official_steps - 1) * (1000 / steps) + 1 )) -lt 1000 ] \
  || die "--steps $steps: the official DDIM spacing gives timestep 1000 (out of range) for it; use e.g. 1, 2, 5, 10, 25, 50"
[ "$official_steps" = "$steps" ] || echo "vs_official.sh: note: --steps $steps runs $official_steps DDIM steps on both sides (the official spacing)" >&2
case "$omp_wait" in passive|default) ;; *) die "--omp-wait $omp_wait: expected passive or default" ;; esac
case "$device" in cpu|cuda) ;; *) die "--device $device: expected cpu or cuda (the official DDIMSampler puts its buffers on cuda:0)" ;; esac
IFS=, read -r -a row_list <<<"$rows"
for r in "${row_list[@]}"; do
  case "$r" in sky|sky_pred|sky_interp|default|vae64) ;; *) die "--rows: unknown row '$r' (sky, sky_pred, sky_interp, default, vae64)" ;; esac
  [ "$r" != vae64 ] || [ "$device" = cpu ] || die "--rows vae64 runs on the CPU only (the official decode subcommand has no --device)"
done
[ -x "$longvid" ] || die "no longvid binary at $longvid (build it, or pass --longvid BIN)"
if [ -z "$py" ]; then
  if [ -x "$root/.venv/bin/python" ]; then py="$root/.venv/bin/python"; else py=python3; fi
fi
command -v "$py" >/dev/null 2>&1 || die "--python $py: not found"
missing=$("$py" - <<'EOF' 2>/dev/null || echo "(the interpreter failed to start)"
import importlib.util
mods = ["torch", "numpy", "einops", "omegaconf", "yaml", "safetensors", "tqdm", "pytorch_lightning",
        "torchvision", "imageio", "cv2", "PIL"]
print(" ".join(m for m in mods if importlib.util.find_spec(m) is None))
EOF
)
[ -z "$missing" ] || die "--python $py lacks: $missing (pip install omegaconf tqdm pytorch_lightning imageio opencv-python-headless ..., or set PYTHONPATH)"

if [ "$omp_wait" = passive ]; then
  bench=(env "OMP_NUM_THREADS=$threads" "MKL_NUM_THREADS=$threads" OMP_WAIT_POLICY=PASSIVE)
else
  bench=(env -u OMP_WAIT_POLICY "OMP_NUM_THREADS=$threads" "MKL_NUM_THREADS=$threads")
fi
off=("${bench[@]}" "$py" "$root/tools/bench/official_lvdm.py")
lv_dtype=(--device "$device")
[ "$mode" = autocast ] && lv_dtype+=(--dtype bf16)
off_dev=(--device "$device")
has_bench=0
"$longvid" bench --help >/dev/null 2>&1 && has_bench=1

mkdir -p "$work/ckpt" "$work/cfg"
work=$(cd "$work" && pwd)
run="$work/runs/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$run"
echo "vs_official: work $work, this run $run"
echo "  threads $threads, OMP wait policy $omp_wait, steps $steps, seed $seed, mode $mode, rows $rows$([ "$latent_size" = 0 ] || echo ", latent size $latent_size")$([ "$model_channels" = 0 ] || echo ", U-Net model_channels $model_channels (validation)")"
echo "  official: $lvdm_src  python: $py  longvid: $longvid (bench command: $([ $has_bench = 1 ] && echo yes || echo no))"
{
  echo "{\"started\": \"$(date -Iseconds)\", \"loadavg_start\": \"$(cut -d' ' -f1-3 /proc/loadavg)\","
  echo " \"nproc\": $(nproc), \"mem_total_kib\": $(awk '/MemTotal/{print $2}' /proc/meminfo),"
  echo " \"cpu\": \"$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/"/\\"/g')\","
  echo " \"longvid\": \"$("$longvid" --version 2>&1 | head -1)\", \"longvid_binary\": \"$longvid\","
  echo " \"repo_commit\": \"$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo '+dirty')\","
  echo " \"lvdm_src\": \"$lvdm_src\", \"lvdm_commit\": \"$(git -C "$lvdm_src" rev-parse --short HEAD 2>/dev/null || echo 'unknown (not a git checkout)')\","
  echo " \"device\": \"$device\", \"gpu\": \"$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)\","
  echo " \"python\": \"$py\", \"threads\": $threads, \"omp_wait\": \"$omp_wait\", \"steps\": $steps, \"seed\": $seed, \"mode\": \"$mode\","
  echo " \"latent_size\": $latent_size, \"model_channels\": $model_channels, \"vae_latent_frames\": $vae_frames, \"vae_window\": $vae_window,"
  echo " \"iters\": $iters, \"repeat\": $repeat, \"rows\": \"$rows\"}"
} >"$run/settings.json"

# ---- helpers ---------------------------------------------------------------------------------
timeit() {  # timeit OUT_PREFIX MARK_REGEX -- command...: OUT_PREFIX.time.json + OUT_PREFIX.log
  local out="$1" mark="$2"
  shift 2
  "$py" "$root/tools/bench/official_lvdm.py" timeit --json "$out.time.json" --log "$out.log" --mark "$mark" "$@" \
    || { echo "  FAILED: $* (log: $out.log)" >&2; tail -5 "$out.log" >&2; return 1; }
}

# Model names carry the --model-channels override (a different checkpoint): sky, sky.mc32, ...
mname() { if [ "$model_channels" = 0 ]; then echo "$1"; else echo "$1.mc$model_channels"; fi; }

# config NAME SRC_YAML: $work/cfg/NAME.yaml (config size, for the checkpoint) and the run's copy
# (with --latent-size); prints the run config's path.
config() {
  local name full cfg mc=()
  name=$(mname "$1")
  full="$work/cfg/$name.yaml" cfg="$work/cfg/$name.yaml"
  [ "$model_channels" = 0 ] || mc=(--model-channels "$model_channels")
  [ -f "$full" ] || "$py" "$root/tools/bench/official_lvdm.py" config --config "$2" --out "$full" "${mc[@]}" >/dev/null
  if [ "$latent_size" != 0 ]; then
    cfg="$work/cfg/$name.ls$latent_size.yaml"
    [ -f "$cfg" ] || "$py" "$root/tools/bench/official_lvdm.py" config --config "$2" --out "$cfg" \
      --latent-size "$latent_size" "${mc[@]}" >/dev/null
  fi
  echo "$cfg"
}

# ckpt NAME: the random-weight checkpoint of $work/cfg/NAME.yaml (built once).
ckpt() {
  local name c
  name=$(mname "$1")
  c="$work/ckpt/$name.seed$ckpt_seed.ckpt"
  if [ ! -f "$c" ]; then
    echo "  building $c (random weights, seed $ckpt_seed) ..." >&2
    "${off[@]}" make-ckpt --lvdm-src "$lvdm_src" --threads "$threads" --config "$work/cfg/$name.yaml" --out "$c" \
      --ae-out "$work/ckpt/$name.seed$ckpt_seed.ae.ckpt" --seed "$ckpt_seed" --json "$c.json" >"$c.log" 2>&1 \
      || { tail -5 "$c.log" >&2; die "make-ckpt $name failed (log: $c.log)"; }
  fi
  echo "$c"
}

clip_frames() {  # the U-Net's temporal_length x the AE's temporal factor
  "$py" - "$1" <<'EOF'
import sys, yaml
p = yaml.safe_load(open(sys.argv[1]))["model"]["params"]
print(int(p["unet_config"]["params"]["temporal_length"]) *
      int(p["first_stage_config"]["params"]["ddconfig"]["encoder"]["params"]["downsample"][0]))
EOF
}

manifest() {  # manifest ROW KIND NOTE [KEY=PATH ...]
  local row="$1" kind="$2" note="$3"
  shift 3
  {
    printf '{"row": "%s", "kind": "%s", "note": "%s", "dir": "%s"' "$row" "$kind" "$note" "$run/$row"
    for kv in "$@"; do printf ', "%s": "%s"' "${kv%%=*}" "${kv#*=}"; done
    printf '}\n'
  } >"$run/$row.row.json"
  echo "$row" >>"$run/rows.txt"
}

fail_row() {  # fail_row ROW WHAT: the row is listed as failed (its log named)
  echo "  $2" >&2
  manifest "$1" failed "$2"
}

# clip ROW CONFIG CKPT LONGVID_MODEL FRAMES: one clip, both sides, frames compared.
clip() {
  local row="$1" cfg="$2" ck="$3" model="$4" frames="$5" d="$run/$1" i
  mkdir -p "$d"
  echo "[$row] one clip: $frames frames, $steps DDIM steps, seed $seed, $threads threads"
  for ((i = 1; i <= repeat; i++)); do
    timeit "$d/official.$i" '^official: model loaded' -- "${off[@]}" sample --lvdm-src "$lvdm_src" --threads "$threads" --config "$cfg" \
      --ckpt "$ck" --steps "$steps" --seed "$seed" --frames "$frames" --mode "$mode" "${off_dev[@]}" \
      --out-frames "$d/official.npy" --json "$d/official.$i.json" \
      || { fail_row "$row" "official sample failed: $d/official.$i.log"; return 0; }
    rm -rf "$d/longvid.y4m" "$d/longvid.y4m.longvid-run"
    timeit "$d/longvid.$i" '^\[I\] loaded ' -- "${bench[@]}" "$longvid" generate --model "$model" --config "$cfg" \
      --steps "$steps" --seed "$seed" --frames "$frames" --decode-window 0 "${lv_dtype[@]}" -o "$d/longvid.y4m" \
      || { fail_row "$row" "longvid generate failed: $d/longvid.$i.log"; return 0; }
  done
  if [ "$device" != cpu ]; then
    echo "  frames: not compared on $device (the official noise comes from the CUDA generator, longvid's from its CPU generator)"
    manifest "$row" clip "$frames frames, $steps steps, $device" config="$cfg" ckpt="$ck" longvid_model="$model"
    return 0
  fi
  rm -rf "$d/longvid_png"
  "$longvid" -q video convert "$d/longvid.y4m" "$d/longvid_png/" >/dev/null
  "$py" "$root/tools/bench/official_lvdm.py" compare --official "$d/official.npy" --longvid "$d/longvid_png" \
    --json "$d/compare.json" | sed "s/^/  frames: /"
  if [ $exact_check = 1 ]; then  # untimed: the official run with its attention in longvid's op order
    "${off[@]}" sample --lvdm-src "$lvdm_src" --threads "$threads" --config "$cfg" --ckpt "$ck" --steps "$steps" \
      --seed "$seed" --frames "$frames" --attention longvid-order --out-frames "$d/official_attn.npy" \
      --json "$d/official_attn.json" >"$d/official_attn.log" 2>&1 \
      && "$py" "$root/tools/bench/official_lvdm.py" compare --official "$d/official_attn.npy" \
        --longvid "$d/longvid_png" --json "$d/compare_attn.json" | sed "s/^/  frames (official, attention in longvid's op order): /" \
      || echo "  exact check failed (log: $d/official_attn.log)"
  fi
  manifest "$row" clip "$frames frames, $steps steps" config="$cfg" ckpt="$ck" longvid_model="$model"
}

# fwd ROW CONFIG CKPT: --iters forwards of the diffusion model (official; longvid bench if present).
fwd() {
  local row="$1.fwd" cfg="$2" ck="$3" d="$run/$1.fwd" i note
  mkdir -p "$d"
  echo "[$row] $iters forwards of apply_model (+1 warm-up)"
  for ((i = 1; i <= repeat; i++)); do
    timeit "$d/official.$i" '^official: model loaded' -- "${off[@]}" forward --lvdm-src "$lvdm_src" --threads "$threads" --config "$cfg" \
      --ckpt "$ck" --iters "$iters" --seed "$seed" --mode "$mode" "${off_dev[@]}" --out "$d/official_out.npy" \
      --json "$d/official.$i.json" || { fail_row "$row" "official forward failed: $d/official.$i.log"; return 0; }
    if [ $has_bench = 1 ]; then
      timeit "$d/longvid.$i" '^\[I\] loaded ' -- "${bench[@]}" "$longvid" bench --model "$ck" --config "$cfg" \
        --cases denoiser --iters "$iters" --warmup 1 --seed "$seed" "${lv_dtype[@]}" --json "$d/longvid_bench.$i.json" \
        || echo "  longvid bench failed (log: $d/longvid.$i.log)"
    fi
  done
  note="official only: this longvid has no bench command"
  [ $has_bench = 1 ] && note="longvid: bench --cases denoiser (prediction condition: latent 0 given, s 0; same cost)"
  manifest "$row" forward "$note" config="$cfg" ckpt="$ck"
}

# ---- rows ------------------------------------------------------------------------------------
for r in "${row_list[@]}"; do
  case "$r" in
    sky)
      cfg=$(config sky "$lvdm_src/configs/lvdm_short/sky.yaml"); ck=$(ckpt sky)
      clip sky "$cfg" "$ck" "$ck" 16 ;;
    sky_pred|sky_interp)
      cfg=$(config "$r" "$lvdm_src/configs/lvdm_long/$r.yaml"); ck=$(ckpt "$r")
      clip "$r" "$cfg" "$ck" "$ck" "$(clip_frames "$cfg")"
      fwd "$r" "$cfg" "$ck" ;;
    default)
      model="$root/assets/default/model.safetensors"
      [ -f "$model" ] || die "no bundled default model at $model"
      "${off[@]}" from-safetensors --lvdm-src "$lvdm_src" --threads "$threads" --model "$model" \
        --out-config "$work/cfg/default.yaml" --out "$work/ckpt/default.ckpt" >"$work/ckpt/default.log" 2>&1 \
        || { tail -5 "$work/ckpt/default.log" >&2; die "from-safetensors failed (log: $work/ckpt/default.log)"; }
      clip default "$work/cfg/default.yaml" "$work/ckpt/default.ckpt" "$model" 16 ;;
    vae64)
      cfg=$(config sky "$lvdm_src/configs/lvdm_short/sky.yaml"); ck=$(ckpt sky)
      ae="${ck%.ckpt}.ae.ckpt"
      d="$run/vae64"
      mkdir -p "$d"
      echo "[vae64] decode $vae_frames latent frames (window $vae_window, 0 = all at once)"
      ok=1
      for ((i = 1; i <= repeat; i++)); do
        timeit "$d/official.$i" '^official: model loaded' -- "${off[@]}" decode --lvdm-src "$lvdm_src" --threads "$threads" --config "$cfg" \
          --ckpt "$ck" --latent-frames "$vae_frames" --max-z-t "$vae_window" --seed "$seed" --quantize round \
          --latent-out "$d/latents.safetensors" --out-frames "$d/official.npy" --json "$d/official.$i.json" \
          || { ok=0; fail_row vae64 "official decode failed: $d/official.$i.log"; break; }
        rm -f "$d/longvid.y4m"
        timeit "$d/longvid.$i" '^\[D\] vae: ' -- "${bench[@]}" "$longvid" -v vae decode --vae "$ae" --config "$cfg" \
          "$d/latents.safetensors" --window "$vae_window" --overlap 0 -o "$d/longvid.y4m" \
          || { ok=0; fail_row vae64 "longvid vae decode failed: $d/longvid.$i.log"; break; }
      done
      if [ $ok = 1 ]; then
        rm -rf "$d/longvid_png"
        "$longvid" -q video convert "$d/longvid.y4m" "$d/longvid_png/" >/dev/null
        "$py" "$root/tools/bench/official_lvdm.py" compare --official "$d/official.npy" --longvid "$d/longvid_png" \
          --json "$d/compare.json" | sed "s/^/  frames: /"
        rm -rf "$d/longvid_png"
        manifest vae64 decode "$vae_frames latent frames, window $vae_window" config="$cfg" ckpt="$ck" ae="$ae"
      fi ;;
  esac
done

sed -i "s/^{/{\"loadavg_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", /" "$run/settings.json"
"$py" "$root/tools/bench/official_lvdm.py" summarize --run-dir "$run" --json "$run/summary.json"
[ -z "$json_out" ] || cp "$run/summary.json" "$json_out"
echo "summary: $run/summary.json"
