#!/usr/bin/env python3
"""Parity fixtures for longvid's LVDM 3D autoencoder (vae3d/lvdm_autoencoder3d.*).

Builds the OFFICIAL model (lvdm.models.autoencoder3d.AutoencoderKL, imported from an LVDM
checkout; no LVDM code is copied here) from a config, gives it deterministic random weights
(convs, biases and GroupNorm affines all non-trivial), runs encode / decode on CPU in fp32 and
writes safetensors files:

  <name>.weights.safetensors  the state dict, official key names (no `first_stage_model.`
                              prefix). To keep the fixtures small the weights are rounded to
                              fp16 and stored as fp16 (the reference ran with exactly these
                              values in fp32), and each SamePadConv3d weight is stored once:
                              `--alias weight` keeps the `X.weight` alias only, `--alias conv`
                              keeps `X.conv.weight` only, `--alias both` keeps both (as in
                              official checkpoints; used for the large, uncommitted sky run).
  <name>.io.safetensors       input [B,3,T,H,W], mean, logvar (DiagonalGaussianDistribution,
                              clamped), decoded = decode(mean) (post_quant_conv + decoder).

Usage (LVDM @ d251dcc, e.g. from `git archive` into /tmp/lvdm-src):
  python tests/data/gen/gen_lvdm_ae3d.py --lvdm-src /tmp/lvdm-src \
      --config tests/data/vae3d/lvdm_ae3d_tiny_t2.yaml --shape 2,3,4,16,16 --alias weight \
      --out tests/data/vae3d/lvdm_ae3d_tiny_t2
  ... --config tests/data/vae3d/lvdm_ae3d_tiny_s2.yaml --shape 1,3,3,16,16 --alias conv ...
  ... --keys-json tests/data/vae3d/lvdm_ae3d_sky_keys.json --config tests/data/configs/lvdm/videoae/sky.yaml
The official code imports pytorch_lightning only for its base class; if it is not installed, a
stand-in module whose LightningModule is torch.nn.Module is registered (nothing else is used).
"""
import argparse
import json
import os
import sys
import types

import torch
import yaml
from safetensors.torch import save_file

import lvdm_src


def import_lvdm(path):
    lvdm_src.use(path)
    try:
        import pytorch_lightning  # noqa: F401
    except ImportError:
        stub = types.ModuleType("pytorch_lightning")
        stub.LightningModule = torch.nn.Module
        sys.modules["pytorch_lightning"] = stub
    from lvdm.models.autoencoder3d import AutoencoderKL
    from lvdm.models.modules.distributions import DiagonalGaussianDistribution
    return AutoencoderKL, DiagonalGaussianDistribution


def build(AutoencoderKL, cfg):
    p = dict(cfg["model"]["params"])
    p["lossconfig"] = "__is_first_stage__"  # the training loss (LPIPS + discriminator) is not needed
    p.pop("ckpt_path", None)
    p.pop("monitor", None)
    return AutoencoderKL(**p).eval()


@torch.no_grad()
def randomise(model, seed, half):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.GroupNorm):
            m.weight.copy_(1.0 + 0.3 * torch.randn(m.weight.shape, generator=g))
            m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=g))
        elif isinstance(m, (torch.nn.Conv3d, torch.nn.ConvTranspose3d)):
            w = m.weight
            if isinstance(m, torch.nn.ConvTranspose3d):  # inputs reaching one output
                fan_in = w.shape[0] * w[0, 0].numel() / max(1, torch.tensor(m.stride).prod().item())
            else:
                fan_in = w[0].numel()
            w.copy_(torch.randn(w.shape, generator=g) * (1.5 / fan_in) ** 0.5)
            m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    # Push two logvar channels past the clamp [-30, 20] so that the clamp is exercised.
    qb = model.quant_conv.conv.bias
    c = qb.shape[0] // 2
    qb[c] += 26.0
    qb[c + 1] -= 36.0
    if half:
        for p in model.parameters():
            p.copy_(p.half().float())


@torch.no_grad()
def recipe_fill(model, seed):
    """Weights from a recipe instead of a weights file (--weights-recipe): for each parameter in
    sorted key order (SamePadConv3d weights under their `X.conv.weight` name), one draw
    r = torch.randn(shape, generator=g) from a generator seeded `seed`, value = (r * scale + offset)
    rounded to fp16: GroupNorm weight scale 0.3 offset 1, GroupNorm bias 0.3, conv bias 0.1, conv
    weight sqrt(1.5 / fan_in) as randomise(). Returns [[key, scale, offset, shape], ...] in draw
    order; the C++ test replays it (LibTorch's CPU generator draws the same numbers)."""
    sdv = model.state_dict(keep_vars=True)
    modules = dict(model.named_modules())
    keys = sorted(k for k in sdv if not (k.endswith(".weight") and not k.endswith(".conv.weight")
                                         and k[: -len(".weight")] + ".conv.weight" in sdv))
    g = torch.Generator().manual_seed(seed)
    recipe = []
    for k in keys:
        mod_name, leaf = k.rsplit(".", 1)
        m, p = modules[mod_name], sdv[k]
        if isinstance(m, torch.nn.GroupNorm):
            scale, offset = 0.3, (1.0 if leaf == "weight" else 0.0)
        elif isinstance(m, (torch.nn.Conv3d, torch.nn.ConvTranspose3d)) and leaf == "bias":
            scale, offset = 0.1, 0.0
        elif isinstance(m, (torch.nn.Conv3d, torch.nn.ConvTranspose3d)) and leaf == "weight":
            if isinstance(m, torch.nn.ConvTranspose3d):
                fan_in = p.shape[0] * p[0, 0].numel() / max(1, torch.tensor(m.stride).prod().item())
            else:
                fan_in = p[0].numel()
            scale, offset = (1.5 / fan_in) ** 0.5, 0.0
        else:
            raise SystemExit(f"recipe: unexpected parameter {k} ({type(m).__name__})")
        r = torch.randn(p.shape, generator=g)
        p.copy_((r * scale + offset).half().float())
        recipe.append([k, scale, offset, list(p.shape)])
    return recipe


def state_dict_for_file(model, alias, half):
    sd = model.state_dict()
    out = {}
    for k, v in sd.items():
        if alias != "both":
            # An aliased SamePadConv3d weight: `X.weight` is `X.conv.weight`.
            if k.endswith(".conv.weight") and k[: -len(".conv.weight")] + ".weight" in sd and alias == "weight":
                continue
            if (k.endswith(".weight") and not k.endswith(".conv.weight")
                    and k[: -len(".weight")] + ".conv.weight" in sd and alias == "conv"):
                continue
        t = v.detach().clone().contiguous()
        out[k] = t.half() if half else t
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    lvdm_src.add_argument(ap)
    ap.add_argument("--config", required=True)
    ap.add_argument("--shape", default="1,3,4,16,16", help="input B,C,T,H,W")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--alias", choices=["weight", "conv", "both"], default="both")
    ap.add_argument("--fp32-weights", action="store_true", help="store fp32 weights (no fp16 rounding)")
    ap.add_argument("--out", help="output prefix: writes <out>.weights.safetensors and <out>.io.safetensors")
    ap.add_argument("--ckpt", help="also write the weights as an LVDM diffusion checkpoint would hold them: "
                    "torch.save({'state_dict': {'first_stage_model.' + key: ...}}) with the aliased weights sharing "
                    "storage, as torch.save of the official model does (large: not for committing)")
    ap.add_argument("--keys-json", help="write {key: shape} of the official state dict and the parameter count")
    ap.add_argument("--weights-recipe", action="store_true",
                    help="fill the weights by recipe_fill() and store the recipe in the io file's metadata instead "
                         "of writing a weights file (keeps multi-level fixtures small)")
    a = ap.parse_args()

    AutoencoderKL, DiagonalGaussianDistribution = import_lvdm(a.lvdm_src)
    with open(a.config) as f:
        cfg = yaml.safe_load(f)
    torch.manual_seed(a.seed)
    model = build(AutoencoderKL, cfg)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"{a.config}: {nparams} parameters")

    if a.keys_json:
        sd = model.state_dict()
        info = {"config": os.path.basename(a.config), "parameters": nparams,
                "state_dict": {k: list(v.shape) for k, v in sd.items()}}
        with open(a.keys_json, "w") as f:
            json.dump(info, f, indent=0)
            f.write("\n")
        print(f"wrote {a.keys_json}: {len(sd)} keys")

    if a.out:
        half = not a.fp32_weights
        recipe = recipe_fill(model, a.seed) if a.weights_recipe else None
        if recipe is None:
            randomise(model, a.seed, half)
        shape = [int(s) for s in a.shape.split(",")]
        g = torch.Generator().manual_seed(a.seed + 1)
        # Smooth ramps plus noise, in [-1, 1] like normalised video; borders differ from the inside
        # so that replicate padding matters.
        b, c, t, h, w = shape
        ramp = (torch.linspace(-1, 1, w).view(1, 1, 1, 1, w) * torch.linspace(0.5, 1, h).view(1, 1, 1, h, 1)
                * torch.linspace(1, -1, t).view(1, 1, t, 1, 1))
        x = (0.6 * ramp + 0.4 * (2 * torch.rand(shape, generator=g) - 1)).clamp(-1, 1).float()
        with torch.no_grad():
            post = model.encode(x)
            assert isinstance(post, DiagonalGaussianDistribution)
            dec = model.decode(post.mean)
        meta = {"generator": "tests/data/gen/gen_lvdm_ae3d.py", "reference": "YingqingHe/LVDM@d251dcc",
                "config": os.path.basename(a.config), "seed": str(a.seed), "parameters": str(nparams),
                "weights": "fp16-rounded" if half else "fp32", "alias": a.alias}
        if recipe is None:
            save_file(state_dict_for_file(model, a.alias, half), a.out + ".weights.safetensors", metadata=meta)
        else:
            meta["weights"] = "recipe (fp16-rounded)"
            meta["recipe"] = json.dumps(recipe)
        io = {"input": x.contiguous(), "mean": post.mean.contiguous(), "logvar": post.logvar.contiguous(),
              "decoded": dec.contiguous()}
        save_file(io, a.out + ".io.safetensors", metadata=meta)
        if a.ckpt:
            sd = {"first_stage_model." + k: v for k, v in model.state_dict().items()}
            torch.save({"epoch": 0, "global_step": 0, "state_dict": sd}, a.ckpt)
            print(f"wrote {a.ckpt}")
        for k, v in io.items():
            print(f"  {k}: {tuple(v.shape)} mean|x| {v.abs().mean().item():.4g} max|x| {v.abs().max().item():.4g}")
        print(f"wrote {a.out}.io.safetensors" + ("" if recipe else f", {a.out}.weights.safetensors"))


if __name__ == "__main__":
    main()
