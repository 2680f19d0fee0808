#!/usr/bin/env python3
"""Parity fixtures for the native InceptionI3d and the I3D FVD protocols (tests/eval/test_i3d.cpp).

Usage: python gen_i3d.py --videogpt-src VIDEOGPT_DIR --lvdm-src LVDM_DIR --out OUT_DIR
  VIDEOGPT_DIR: a checkout of wilson1yan/VideoGPT (tested at 733d2b1; default $VIDEOGPT_SRC)
  LVDM_DIR:     a checkout of YingqingHe/LVDM (tested at d251dcc; default $LVDM_SRC)
  OUT_DIR:      tests/data/eval (the default)

The official modules are imported from those paths (never copied):
  - InceptionI3d from VIDEOGPT_DIR/videogpt/fvd/pytorch_i3d.py (LVDM's scripts/fvd_utils/pytorch_i3d.py
    is run too and must agree: both use BatchNorm eps 1e-5).
  - LVDM's preprocess from LVDM_DIR/scripts/fvd_utils/fvd_utils.py (imported as a module).
  - VideoGPT's preprocess: videogpt/fvd/fvd.py calls videogpt/data.py `preprocess`, whose module
    imports h5py / torchvision / pytorch_lightning (not installed here), so the `preprocess`
    function's source is taken from that file with `ast` and executed on its own (with math, torch,
    F); fvd.py's `* 2` is applied as fvd.py does.

Deterministic weights (reproduced by the C++ test, no weights committed): one torch.Generator
seeded 20261124; state-dict keys in sorted (byte) order, num_batches_tracked skipped; for each key
r = torch.randn(shape, generator=g) (float32) and
  *.conv3d.weight   r * sqrt(2 / fan_in)         (fan_in = in_channels * kT * kH * kW)
  *.conv3d.bias     r * 0.1
  *.bn.weight       1 + r * 0.1
  *.bn.bias         r * 0.1
  *.bn.running_mean r * 0.1
  *.bn.running_var  exp(r * 0.2)
Input: torch.randn([1, 3, 9, 193, 193], generator=torch.Generator().manual_seed(7)) (the smallest
clip the reference's AvgPool3d([2, 7, 7]) + squeeze accepts: T' = 2, 7x7 after /32).

Writes:
  i3d_parity.safetensors: logits [1, 400] (forward), logits_t [1, 400, 1] (pre-mean), mixed_5c,
    input_head (first 64 input values, to check the C++ generator reproduces the input),
    weight_head (first 64 values of Conv3d_1a_7x7.conv3d.weight).
  i3d_preprocess.safetensors: clip_wide uint8 [2, 3, 20, 27, 3], clip_tall uint8 [1, 2, 45, 30, 3]
    and each protocol's output at resolution 16 (videogpt_wide, videogpt_tall, lvdm_wide, lvdm_tall)
    plus videogpt_wide_224 [2, 3, 3, 224, 224] is NOT stored (size); resolution is a parameter of both
    reference functions.
  bad_sig_detector_ts.pt:   TorchScript module whose forward(x) takes one tensor.
  bad_shape_detector_ts.pt: TorchScript module with StyleGAN-V's signature returning a 1-D tensor.
"""
import argparse
import ast
import importlib.util
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

import lvdm_src

SEED = 20261124


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fill(model):
    g = torch.Generator().manual_seed(SEED)
    sd = model.state_dict()
    new = {}
    for k in sorted(sd.keys()):
        v = sd[k]
        if k.endswith("num_batches_tracked"):
            continue
        r = torch.randn(v.shape, generator=g, dtype=torch.float32)
        if k.endswith("conv3d.weight"):
            fan_in = v.shape[1] * v.shape[2] * v.shape[3] * v.shape[4]
            new[k] = r * math.sqrt(2.0 / fan_in)
        elif k.endswith("conv3d.bias") or k.endswith("bn.bias") or k.endswith("running_mean"):
            new[k] = r * 0.1
        elif k.endswith("bn.weight"):
            new[k] = 1 + r * 0.1
        elif k.endswith("running_var"):
            new[k] = torch.exp(r * 0.2)
        else:
            raise SystemExit(f"unexpected key {k}")
    model.load_state_dict(new, strict=False)
    return new


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videogpt-src", default=os.environ.get("VIDEOGPT_SRC"), help="VideoGPT checkout")
    lvdm_src.add_argument(ap)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "eval"))
    args = ap.parse_args()
    if not args.videogpt_src:
        sys.exit("give the VideoGPT checkout with --videogpt-src PATH or VIDEOGPT_SRC=PATH")
    vgpt, out = args.videogpt_src, args.out
    torch.set_num_threads(2)
    i3d_mod = load_module("vgpt_i3d", os.path.join(vgpt, "videogpt/fvd/pytorch_i3d.py"))
    net = i3d_mod.InceptionI3d(400, in_channels=3).eval()
    fill(net)
    x = torch.randn([1, 3, 9, 193, 193], generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        logits = net(x)
        h = x
        for ep in net.VALID_ENDPOINTS:
            if ep in net.end_points:
                h = net._modules[ep](h)
        mixed_5c = h.clone()
        logits_t = net.logits(net.avg_pool(h)).squeeze(3).squeeze(3)
    lvdm_src.use(args.lvdm_src)
    lvdm_fvd = importlib.import_module("scripts.fvd_utils.fvd_utils")
    lnet = lvdm_fvd.InceptionI3d(400, in_channels=3).eval()
    fill(lnet)
    with torch.no_grad():
        assert torch.equal(lnet(x), logits), "VideoGPT and LVDM InceptionI3d differ"
    print("logits", logits.shape, float(logits.abs().max()), "mixed_5c", mixed_5c.shape, float(mixed_5c.abs().max()))
    save_file({
        "logits": logits.contiguous(), "logits_t": logits_t.contiguous(), "mixed_5c": mixed_5c.contiguous(),
        "input_head": x.flatten()[:64].contiguous(),
        "weight_head": net.state_dict()["Conv3d_1a_7x7.conv3d.weight"].flatten()[:64].contiguous(),
    }, os.path.join(out, "i3d_parity.safetensors"))

    # Preprocessing.
    src = open(os.path.join(vgpt, "videogpt/data.py")).read()
    fn = next(n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name == "preprocess")
    ns = {"math": math, "torch": torch, "F": F}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "videogpt/data.py", "exec"), ns)
    vgpt_single = ns["preprocess"]

    def vgpt_pre(v, res):  # videogpt/fvd/fvd.py preprocess with target_resolution=res
        t = torch.from_numpy(v)
        return torch.stack([vgpt_single(c, res) for c in t]) * 2

    rng = np.random.default_rng(3)
    wide = rng.integers(0, 256, size=(2, 3, 20, 27, 3), dtype=np.uint8)
    tall = rng.integers(0, 256, size=(1, 2, 45, 30, 3), dtype=np.uint8)
    res = 16
    tensors = {"clip_wide": torch.from_numpy(wide), "clip_tall": torch.from_numpy(tall)}
    for name, v in (("wide", wide), ("tall", tall)):
        tensors["videogpt_" + name] = vgpt_pre(v, res).contiguous()
        tensors["lvdm_" + name] = lvdm_fvd.preprocess(v, (res, res)).contiguous()
    for k, v in tensors.items():
        print(k, tuple(v.shape))
    save_file(tensors, os.path.join(out, "i3d_preprocess.safetensors"))

    class OneArg(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.float().mean(dim=[2, 3, 4])

    class FlatOut(torch.nn.Module):
        def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                    return_features: bool = False) -> torch.Tensor:
            return x.float().flatten(1).mean(dim=1)

    torch.jit.script(OneArg()).save(os.path.join(out, "bad_sig_detector_ts.pt"))
    torch.jit.script(FlatOut()).save(os.path.join(out, "bad_shape_detector_ts.pt"))


if __name__ == "__main__":
    main()
