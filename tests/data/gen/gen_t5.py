#!/usr/bin/env python3
"""T5 encoder parity fixture (tests/data/text/t5_encoder_tiny.safetensors) from transformers'
T5EncoderModel (no third-party code copied; transformers is imported):

    source /tmp/latte-env.sh; PYTHONPATH=/tmp/textenv:$PYTHONPATH \
        .venv/bin/python tests/data/gen/gen_t5.py [--out tests/data/text]

A reduced t5-v1_1 config (gated-gelu, no scaling, 32 buckets; max_distance 20 so that 40 tokens
reach the clamped buckets), every parameter filled by det_fill (tests/data/gen/det_fill.py) under
its transformers name ("shared.weight", "encoder.block.0.layer.0.SelfAttention.q.weight", ...;
encoder.embed_tokens is tied to shared). Inputs: ids [2, 40] with the second row padded after 25
tokens (attention_mask 0). Outputs: last_hidden_state in float32, and the float32-vs-float64 gap of
the reference itself in the metadata. Also the parameter count of google/t5-v1_1-xxl's encoder
(built on the meta device).
"""
import argparse
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import T5Config, T5EncoderModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from det_fill import det_param  # noqa: E402

CFG = dict(vocab_size=200, d_model=64, d_kv=16, d_ff=96, num_layers=3, num_heads=4,
           relative_attention_num_buckets=32, relative_attention_max_distance=20,
           feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6, dropout_rate=0.0,
           is_encoder_decoder=False, use_cache=False, tie_word_embeddings=True)
XXL = dict(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
           relative_attention_num_buckets=32, relative_attention_max_distance=128,
           feed_forward_proj="gated-gelu", is_encoder_decoder=False, use_cache=False)


def build(dtype):
    m = T5EncoderModel(T5Config(**CFG)).eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(det_param(name, tuple(p.shape)).to(torch.float32))
    return m.to(dtype)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "text"))
    a = ap.parse_args()
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, CFG["vocab_size"], (2, 40), generator=g)
    mask = torch.ones(2, 40, dtype=torch.long)
    mask[1, 25:] = 0
    ids[1, 25:] = 0  # pad id
    with torch.no_grad():
        out32 = build(torch.float32)(input_ids=ids, attention_mask=mask).last_hidden_state
        out64 = build(torch.float64)(input_ids=ids, attention_mask=mask).last_hidden_state
    gap = ((out32.double() - out64).norm() / out64.norm()).item()
    with torch.device("meta"):
        xxl = T5EncoderModel(T5Config(**XXL))
    n_xxl = sum(p.numel() for p in xxl.parameters())
    names = [n for n, _ in build(torch.float32).named_parameters()]
    import transformers
    save_file({"input_ids": ids, "attention_mask": mask, "last_hidden_state": out32.contiguous()},
              os.path.join(a.out, "t5_encoder_tiny.safetensors"),
              metadata={"config": json.dumps(CFG), "generator": "tests/data/gen/gen_t5.py",
                        "transformers": transformers.__version__, "torch": torch.__version__,
                        "f32_vs_f64_rel_fro": repr(gap), "t5_v1_1_xxl_encoder_parameters": str(n_xxl),
                        "parameters": json.dumps(names)})
    print(f"wrote t5_encoder_tiny.safetensors; f32 vs f64 {gap:.3g}; xxl encoder params {n_xxl}; {len(names)} tensors")


if __name__ == "__main__":
    main()
