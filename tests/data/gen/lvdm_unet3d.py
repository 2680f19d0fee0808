#!/usr/bin/env python3
"""Generates the LvdmUNet3D parity fixtures (tests/data/lvdm/unet3d_*.safetensors) from the OFFICIAL
LVDM code, which is NOT part of this repository:

    git clone https://github.com/YingqingHe/LVDM /path/to/LVDM      # tested at d251dcc
    python tests/data/gen/lvdm_unet3d.py --lvdm-src /path/to/LVDM [--out tests/data/lvdm] [--skip-big]

Needs torch, einops, omegaconf, pyyaml, safetensors. Runs on CPU in fp32.

Fixtures
  unet3d_small.safetensors      weights of tests/data/configs/lvdm/unet3d_small.yaml in the official
                                checkpoint layout ("model.diffusion_model." + name, values rounded to fp16
                                and stored as fp16 to keep the file small; the reference ran on exactly
                                those values in fp32) plus a stray "betas" buffer like real checkpoints.
  unet3d_small_io.safetensors   inputs and official outputs for that model.
  unet3d_<name>_det.safetensors input/output of a model whose parameters are all filled with det_fill()
                                (no weights committed): sky.yaml (548.9M parameters), a T2V reduced
                                config and a kernel_size_t 3 / resblock_updown reduced config.
"""
import argparse

import lvdm_src
import math
import os
import sys

import torch
import yaml
from safetensors.torch import save_file

from det_fill import det_fill  # det_unit / det_param / det_fill, shared with gen_latte.py


def unet_params(path):
    with open(path) as f:
        cfg = yaml.safe_load(f)
    unet = cfg["model"]["params"]["unet_config"]
    return unet["target"], dict(unet["params"]), cfg["model"]["params"].get("conditioning_key")


def build(target, params):
    import importlib
    mod, cls = target.rsplit(".", 1)
    return getattr(importlib.import_module(mod), cls)(**params).eval()


def main():
    ap = argparse.ArgumentParser()
    lvdm_src.add_argument(ap)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "lvdm"))
    ap.add_argument("--configs", default=os.path.join(os.path.dirname(__file__), "..", "configs", "lvdm"))
    ap.add_argument("--skip-big", action="store_true", help="skip the sky.yaml fixture")
    args = ap.parse_args()
    lvdm_src.use(args.lvdm_src)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    meta = {"generator": "tests/data/gen/lvdm_unet3d.py", "reference": "YingqingHe/LVDM@d251dcc openaimodel3d.py",
            "torch": torch.__version__}

    # ---- (a) small config with committed weights ------------------------------------------------
    target, params, key = unet_params(os.path.join(args.configs, "unet3d_small.yaml"))
    assert key == "concat-adm-mask"
    torch.manual_seed(1234)
    model = build(target, params)
    with torch.no_grad():
        for name, p in model.named_parameters():
            # random, non-zero everywhere (zero-init layers too), fp16-representable
            std = 1.0 / math.sqrt(p[0].numel()) if p.dim() >= 2 else 0.1
            v = torch.randn(p.shape) * std + (1.0 if (p.dim() == 1 and name.endswith(".weight")) else 0.0)
            p.copy_(v.half().float())
    n_params = sum(p.numel() for p in model.parameters())
    weights = {"model.diffusion_model." + k: v.detach().half().contiguous() for k, v in model.state_dict().items()}
    weights["betas"] = torch.linspace(0.0015 ** 0.5, 0.0155 ** 0.5, 1000, dtype=torch.float64).pow(2).float()
    save_file(weights, os.path.join(args.out, "unet3d_small.safetensors"), metadata=meta)

    B, C, T, H, W = 2, 4, 5, 8, 8
    x = torch.randn(B, C, T, H, W)
    t = torch.tensor([17, 901], dtype=torch.int64)
    s = torch.tensor([100, 3], dtype=torch.int64)
    mask = torch.zeros(B, 1, T, H, W)
    mask[:, :, :1] = 1  # prediction, T_cond = 1 (sample_long_videos_utils: mask == "pred")
    noisy_cond = torch.randn(B, C, 1, H, W)
    with torch.no_grad():
        # DiffusionWrapper 'concat-adm-mask': xc = cat([x, mask]); y = s
        out_plain = model(torch.cat([x, mask], 1), t, context=None, y=s, mask=mask)
        # unconditional branch of the guidance: zero mask, no s
        out_uncond = model(torch.cat([x, torch.zeros_like(mask)], 1), t, context=None, y=None,
                           mask=torch.zeros_like(mask))
        # FrameInterpPredLatentDiffusion.apply_model (prediction only): x_noisy[:, :, :T_cond] = noisy_cond
        x_noisy = x.clone()
        x_noisy[:, :, :noisy_cond.shape[2]] = noisy_cond
        out_pred = model(torch.cat([x_noisy, mask], 1), t, context=None, y=s, mask=mask)
    cond_latent = torch.zeros_like(x)
    cond_latent[:, :, :1] = noisy_cond
    save_file({"x": x, "t": t, "s": s, "mask": mask, "cond_latent": cond_latent, "out_plain": out_plain,
               "out_uncond": out_uncond, "out_pred": out_pred,
               "param_count": torch.tensor([n_params], dtype=torch.int64)},
              os.path.join(args.out, "unet3d_small_io.safetensors"), metadata=meta)
    print("small:", n_params, "params", float(out_plain.abs().mean()))

    # ---- deterministic-fill fixtures -------------------------------------------------------------
    def det_case(name, cfg_file, shape, with_y=False, ctx_shape=None, tval=613):
        target, params, _ = unet_params(os.path.join(args.configs, cfg_file))
        with torch.device("meta"):
            m = build(target, params)
        m = m.to_empty(device="cpu").eval()
        det_fill(m)
        n = sum(p.numel() for p in m.parameters())
        g = torch.Generator().manual_seed(7)
        x = torch.randn(*shape, generator=g)
        t = torch.full((shape[0],), tval, dtype=torch.int64)
        io = {"x": x, "t": t, "param_count": torch.tensor([n], dtype=torch.int64),
              "param_tensors": torch.tensor([len(list(m.parameters()))], dtype=torch.int64)}
        kw = {}
        if with_y:
            io["y"] = torch.arange(shape[0], dtype=torch.int64) + 100
            kw["y"] = io["y"]
        if ctx_shape:
            io["context"] = torch.randn(*ctx_shape, generator=g)
            kw["context"] = io["context"]
        with torch.no_grad():
            io["out"] = m(x, t, **kw)
        save_file(io, os.path.join(args.out, f"unet3d_{name}_det.safetensors"), metadata=meta)
        print(name, n, "params", float(io["out"].abs().mean()), float(io["out"].abs().max()))
        del m

    det_case("t2v_small", "unet3d_t2v_small.yaml", (1, 4, 5, 8, 8), ctx_shape=(1, 7, 16))
    det_case("kt3_small", "unet3d_kt3_small.yaml", (1, 4, 5, 8, 8))
    if not args.skip_big:
        det_case("sky", os.path.join("lvdm_short", "sky.yaml"), (1, 4, 4, 16, 16))


if __name__ == "__main__":
    main()
