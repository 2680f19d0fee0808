#!/usr/bin/env bash
# Peak memory of encoding one prompt with the t5-v1_1-xxl encoder shape in bf16 (issue 14): random
# bf16 weights in the layout of a transformers text_encoder/ folder (config.json + 4 shards + index,
# 9.5 GB, written once to DIR, not committed), then `longvid text encode` under /usr/bin/time.
#   tools/bench/t5_xxl_rss.sh DIR [PROMPT]
# Needs python with torch + safetensors (.venv with the reference packages, or PYTHON=...).
set -euo pipefail
dir=${1:?dir}
prompt=${2:-"two red squares moving left over a grey background"}
bin=${LONGVID:-build/longvid}
py=${PYTHON:-.venv/bin/python}
if [ ! -f "$dir/model.safetensors.index.json" ]; then
  mkdir -p "$dir"
  "$py" - "$dir" <<'PY'
import json, os, sys
import torch
from safetensors.torch import save_file
d = sys.argv[1]
cfg = dict(architectures=["T5EncoderModel"], vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24,
           num_heads=64, relative_attention_num_buckets=32, relative_attention_max_distance=128,
           feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6, torch_dtype="bfloat16")
json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
g = torch.Generator().manual_seed(0)
def t(*shape, std=0.02):
    return (torch.randn(*shape, generator=g) * std).to(torch.bfloat16)
names = {"shared.weight": lambda: t(32128, 4096, std=1.0), "encoder.final_layer_norm.weight": lambda: torch.ones(4096, dtype=torch.bfloat16)}
for i in range(24):
    p = f"encoder.block.{i}."
    for k in "qkvo":
        names[p + f"layer.0.SelfAttention.{k}.weight"] = lambda: t(4096, 4096)
    names[p + "layer.0.layer_norm.weight"] = lambda: torch.ones(4096, dtype=torch.bfloat16)
    names[p + "layer.1.DenseReluDense.wi_0.weight"] = lambda: t(10240, 4096)
    names[p + "layer.1.DenseReluDense.wi_1.weight"] = lambda: t(10240, 4096)
    names[p + "layer.1.DenseReluDense.wo.weight"] = lambda: t(4096, 10240)
    names[p + "layer.1.layer_norm.weight"] = lambda: torch.ones(4096, dtype=torch.bfloat16)
names["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = lambda: t(32, 64, std=1.0)
keys = list(names)
per = (len(keys) + 3) // 4
wm = {}
for s in range(4):
    f = f"model-{s + 1:05d}-of-00004.safetensors"
    part = {k: names[k]() for k in keys[s * per:(s + 1) * per]}
    save_file(part, os.path.join(d, f), metadata={"format": "pt"})
    wm.update({k: f for k in part})
    del part
json.dump({"metadata": {}, "weight_map": wm}, open(os.path.join(d, "model.safetensors.index.json"), "w"))
print("wrote", d)
PY
fi
du -sh "$dir"
/usr/bin/time -f "wall %e s, peak RSS %M KiB" "$bin" text encode --t5 "$dir" --tokenizer tests/data/text/t5_small \
  -p "$prompt"
