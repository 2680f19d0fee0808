#!/usr/bin/env python3
"""Generates the Latte parity fixtures (tests/data/latte/) from the OFFICIAL Latte code (Vchitect/Latte,
models/latte.py and diffusion/), which is NOT part of this repository:

    git clone https://github.com/Vchitect/Latte /path/to/Latte          # tested at b27c24a
    # or, from a bare mirror: mkdir /tmp/latte-src && git -C Latte.git archive b27c24a | tar -x -C /tmp/latte-src
    LATTE_COMMIT=b27c24a python tests/data/gen/gen_latte.py --latte-src /tmp/latte-src \
        [--out tests/data/latte] [--skip-big]

(--latte-src defaults to $LATTE_SRC; LATTE_COMMIT names the commit when the source is a `git archive`
without .git.) Needs torch, numpy, einops, safetensors and timm (models/latte.py imports Mlp and PatchEmbed
from timm.models.vision_transformer; timm imports torchvision). models/latte.py is loaded on its own, so
diffusers (models/__init__.py -> latte_t2v) is not needed. Runs on CPU in fp32, one thread; --skip-big skips
the Latte-XL/2 fixture (673M parameters, ~3 GB of memory, a few minutes).

Layouts are the official ones: video x is (N, F, C, H, W); the model returns (N, F, C_out, H, W),
C_out = 2 * in_channels with learn_sigma. Every file's safetensors metadata holds generator, reference
(Vchitect/Latte@<sha>), torch and the model config (string values).

Fixtures
  latte_tiny.safetensors        weights of a reduced class-conditional Latte(input_size=8, patch_size=2,
                                in_channels=4, hidden_size=64, depth=4, num_heads=4, mlp_ratio=4, num_frames=4,
                                extras=2, num_classes=5, class_dropout_prob=0.1, learn_sigma=True): keys exactly
                                model.state_dict(); every parameter except pos_embed/temp_embed replaced by seeded
                                random non-zero values (weights_recipe in the metadata), rounded to fp16 and
                                stored as fp16 (the reference ran on exactly those values in fp32); pos_embed and
                                temp_embed keep the official sin-cos values, stored as fp32.
  latte_tiny_io.safetensors     x (2,4,4,8,8), t [999,17], y [3,5] (5 = the null class) -> out = model(x,t,y)
                                (2,4,8,8,8); xc = [h; h] (h = x[:1]), tc [250,250], yc [2,5] ->
                                cfg_out = model.forward_with_cfg(xc, tc, yc, cfg_scale=4.0).
  latte_tiny_uncond.safetensors weights of Latte(input_size=8, patch_size=4, in_channels=4, hidden_size=32,
                                depth=2, num_heads=2, mlp_ratio=4, num_frames=4, extras=1, learn_sigma=False),
                                same recipe (another seed).
  latte_tiny_uncond_io.safetensors  x (2,4,4,8,8), t [3,640] -> out = model(x, t) (2,4,4,8,8).
  latte_tiny_uncond.pt          torch.save({"model": sd_model, "ema": sd_ema}) like Latte's train.py:
                                "ema" = latte_tiny_uncond.safetensors in fp32, "model" = ema * 0.5 + 0.1 for
                                every parameter but pos_embed/temp_embed (identical in both), so a loader that
                                takes "model" instead of "ema" (utils.find_model prefers "ema") fails.
  latte_xl2_det.safetensors     Latte-XL/2 (input_size=32, num_frames=16, in_channels=4, extras=2,
                                num_classes=101, learn_sigma=True), every parameter det_fill()ed (det_fill.py)
                                except pos_embed/temp_embed (official sin-cos); no weights stored. Input
                                x = det_unit("input", 65536) as float32 reshaped to (1,16,4,32,32) (not stored),
                                t [500], y [7]. Stored: out_frames = out[:, [0, 15]] (1,2,8,32,32) and
                                out_mean_fc / out_absmean_fc (16, 8): mean and mean |.| over (H, W) of the full
                                output (kept small: the full (1,16,8,32,32) output is 512 KiB); t, y;
                                param_counts [total, trainable, label_table, pos_embed, temp_embed] (int64, also
                                in the metadata as param_count_*).
  latte_s4_uncond_det.safetensors  Latte-S/4, extras=1, learn_sigma=True, input_size=32, num_frames=16, same
                                det input, t [999]; same keys but no y.
  latte_tiny_pstep.safetensors  ONE official p_sample step of create_diffusion("250") (DDPM respaced 1000 -> 250,
                                linear betas, LEARNED_RANGE variance, EPSILON mean) with the latte_tiny model and
                                cfg (sample_fn = model.forward_with_cfg, model_kwargs y [3,5], cfg_scale 4.0,
                                use_fp16 False, clip_denoised False). Keys first.* (respaced index 249, the
                                noisiest; x_t = [z; z] as sample.py starts) and mid.* (index 100; x_t = [z1; z2],
                                halves differ as they do mid-chain): x_t, t (the respaced index as passed, (2,)),
                                timestep (timestep_map[t], what the model sees: 999 and 401), noise (what
                                th.randn_like returned), model_out (forward_with_cfg output), mean, log_variance
                                (p_mean_variance), pred_xstart, sample (p_sample); plus timestep_map (250,),
                                betas (250,) float64 (the respaced chain's) and y.
                                Index mapping: SpacedDiffusion keeps every coefficient on the 250-step chain and
                                indexes it with t; only its _WrappedModel maps t -> timestep_map[t] before calling
                                the model, unscaled (rescale_timesteps is commented out in Latte's respace.py).
"""
import argparse
import json
import math
import os
import sys

import latte_src
import torch
from safetensors.torch import load_file, save_file

from det_fill import det_fill, det_unit

FIXED = ("pos_embed", "temp_embed")  # sin-cos tables (requires_grad=False), kept as the official init makes them

TINY = dict(input_size=8, patch_size=2, in_channels=4, hidden_size=64, depth=4, num_heads=4, mlp_ratio=4.0,
            num_frames=4, extras=2, num_classes=5, class_dropout_prob=0.1, learn_sigma=True)
TINY_UNCOND = dict(input_size=8, patch_size=4, in_channels=4, hidden_size=32, depth=2, num_heads=2, mlp_ratio=4.0,
                   num_frames=4, extras=1, learn_sigma=False)
XL2 = dict(preset="Latte-XL/2", input_size=32, num_frames=16, in_channels=4, extras=2, num_classes=101,
           learn_sigma=True)
S4 = dict(preset="Latte-S/4", input_size=32, num_frames=16, in_channels=4, extras=1, learn_sigma=True)
DET_FRAMES = [0, 15]

RECIPE = ("torch.Generator().manual_seed(SEED); for name, p in model.named_parameters() (state_dict order) except "
          "pos_embed/temp_embed: v = randn(p.shape, generator=g) * std, std = 1/sqrt(numel/shape[0]) for >= 2-D "
          "weights, 0.5 for y_embedder.embedding_table.weight, 0.05 for biases; p = v.half().float()")


def meta_for(base, cfg, **extra):
    m = dict(base)
    for k, v in cfg.items():
        m[k] = str(v)
    m["config"] = json.dumps(cfg, sort_keys=True)
    for k, v in extra.items():
        m[k] = str(v)
    return m


def random_fill(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in FIXED:
                continue
            if name == "y_embedder.embedding_table.weight":
                std = 0.5
            elif p.dim() >= 2:
                std = 1.0 / math.sqrt(p.numel() // p.shape[0])
            else:
                std = 0.05
            p.copy_((torch.randn(p.shape, generator=g) * std).half().float())
            assert (p != 0).any()


def weights_fp16(model):
    return {k: (v.detach().float() if k in FIXED else v.detach().half()).contiguous()
            for k, v in model.state_dict().items()}


def load_weights(model, path):
    sd = {k: v.float() for k, v in load_file(path).items()}
    model.load_state_dict(sd, strict=True)


def param_counts(model):
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    label = model.y_embedder.embedding_table.weight.numel() if hasattr(model, "y_embedder") else 0
    return dict(param_count_total=total, param_count_trainable=trainable, param_count_label_table=label,
                param_count_pos_embed=model.pos_embed.numel(), param_count_temp_embed=model.temp_embed.numel(),
                param_count_trainable_without_label_table=trainable - label,
                param_tensors=len(list(model.parameters())))


def main():
    ap = argparse.ArgumentParser()
    latte_src.add_argument(ap)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "latte"))
    ap.add_argument("--skip-big", action="store_true", help="skip the Latte-XL/2 fixture")
    args = ap.parse_args()
    src = latte_src.use(args.latte_src)
    L = latte_src.load_latte_module(src)
    import diffusion as latte_diffusion  # Latte's diffusion/ package (guided-diffusion fork)

    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    os.makedirs(args.out, exist_ok=True)
    sha = latte_src.commit(src)
    base = {"generator": "tests/data/gen/gen_latte.py", "reference": f"Vchitect/Latte@{sha} models/latte.py",
            "torch": torch.__version__, "dtype": "float32", "device": "cpu", "layout": "N,F,C,H,W"}
    out_dir = args.out
    summary = []

    def save(tensors, name, meta):
        path = os.path.join(out_dir, name)
        save_file(tensors, path, metadata=meta)
        summary.append((name, os.path.getsize(path), {k: (tuple(v.shape), str(v.dtype).replace("torch.", ""))
                                                      for k, v in tensors.items()}))

    # ---- 1/2: tiny class-conditional model ------------------------------------------------------
    tiny = L.Latte(**TINY).eval()
    random_fill(tiny, 20240)
    tiny_meta = meta_for(base, TINY, weights_recipe=RECIPE.replace("SEED", "20240"), attention_mode="math")
    save(weights_fp16(tiny), "latte_tiny.safetensors", tiny_meta)
    # the reference runs on exactly the stored values: reload into a fresh official model
    tiny = L.Latte(**TINY).eval()
    load_weights(tiny, os.path.join(out_dir, "latte_tiny.safetensors"))

    g = torch.Generator().manual_seed(11)
    x = torch.randn(2, 4, 4, 8, 8, generator=g)
    t = torch.tensor([999, 17], dtype=torch.int64)
    y = torch.tensor([3, 5], dtype=torch.int64)
    out = tiny(x, t, y)
    xc = torch.cat([x[:1], x[:1]], 0)
    tc = torch.tensor([250, 250], dtype=torch.int64)
    yc = torch.tensor([2, 5], dtype=torch.int64)
    cfg_out = tiny.forward_with_cfg(xc, tc, yc, cfg_scale=4.0)
    # quirk: forward_with_cfg only reads the first half of its batch
    assert torch.equal(tiny.forward_with_cfg(torch.cat([x[:1], x[1:]], 0), tc, yc, cfg_scale=4.0), cfg_out)
    save({"x": x, "t": t, "y": y, "out": out, "xc": xc, "tc": tc, "yc": yc, "cfg_out": cfg_out},
         "latte_tiny_io.safetensors", meta_for(tiny_meta, {}, cfg_scale="4.0", weights="latte_tiny.safetensors",
                                                   train="False (eval: no label dropout)"))

    # ---- 3/4: tiny unconditional model + pickle checkpoint --------------------------------------
    unc = L.Latte(**TINY_UNCOND).eval()
    random_fill(unc, 20241)
    unc_meta = meta_for(base, TINY_UNCOND, weights_recipe=RECIPE.replace("SEED", "20241"), attention_mode="math")
    save(weights_fp16(unc), "latte_tiny_uncond.safetensors", unc_meta)
    unc = L.Latte(**TINY_UNCOND).eval()
    load_weights(unc, os.path.join(out_dir, "latte_tiny_uncond.safetensors"))
    g = torch.Generator().manual_seed(12)
    xu = torch.randn(2, 4, 4, 8, 8, generator=g)
    tu = torch.tensor([3, 640], dtype=torch.int64)
    save({"x": xu, "t": tu, "out": unc(xu, tu)}, "latte_tiny_uncond_io.safetensors",
         meta_for(unc_meta, {}, weights="latte_tiny_uncond.safetensors (or the 'ema' entry of latte_tiny_uncond.pt)"))
    sd_ema = {k: v.detach().clone().float().contiguous() for k, v in unc.state_dict().items()}
    sd_model = {k: (v.clone() if k in FIXED else (v * 0.5 + 0.1)).contiguous() for k, v in sd_ema.items()}
    pt = os.path.join(out_dir, "latte_tiny_uncond.pt")
    torch.save({"model": sd_model, "ema": sd_ema}, pt)
    summary.append(("latte_tiny_uncond.pt", os.path.getsize(pt),
                    {"model/<key>, ema/<key>": (f"{len(sd_ema)} keys each", "float32")}))

    # ---- 6: one official sampler step (tiny model, cfg) -----------------------------------------
    diff = latte_diffusion.create_diffusion("250")
    tmap = torch.tensor(diff.timestep_map, dtype=torch.int64)
    g = torch.Generator().manual_seed(13)
    z = torch.randn(1, 4, 4, 8, 8, generator=g)
    z1, z2 = torch.randn(1, 4, 4, 8, 8, generator=g), torch.randn(1, 4, 4, 8, 8, generator=g)
    kwargs = dict(y=torch.tensor([3, 5], dtype=torch.int64), cfg_scale=4.0, use_fp16=False)
    ps = {"timestep_map": tmap, "betas": torch.from_numpy(diff.betas.copy()), "y": kwargs["y"]}
    for idx, x_t in ((249, torch.cat([z, z], 0)), (100, torch.cat([z1, z2], 0))):
        t_idx = torch.tensor([idx, idx], dtype=torch.int64)
        noise = torch.randn(x_t.shape, generator=g)
        seen = {}

        def sample_fn(xx, tt, **kw):
            seen["timestep"] = tt.clone()
            seen["model_out"] = tiny.forward_with_cfg(xx, tt, **kw)
            return seen["model_out"]

        pmv = diff.p_mean_variance(sample_fn, x_t, t_idx, clip_denoised=False, model_kwargs=kwargs)
        orig = torch.randn_like
        torch.randn_like = lambda a, *aa, **kk: (noise.clone() if a.shape == noise.shape else orig(a, *aa, **kk))
        try:
            res = diff.p_sample(sample_fn, x_t, t_idx, clip_denoised=False, model_kwargs=kwargs)
        finally:
            torch.randn_like = orig
        assert torch.equal(seen["timestep"], tmap[t_idx])
        assert torch.equal(res["sample"], pmv["mean"] + torch.exp(0.5 * pmv["log_variance"]) * noise)
        p = {249: "first.", 100: "mid."}[idx]
        ps.update({p + "x_t": x_t, p + "t": t_idx, p + "timestep": seen["timestep"], p + "noise": noise,
                   p + "model_out": seen["model_out"], p + "mean": pmv["mean"],
                   p + "log_variance": pmv["log_variance"], p + "pred_xstart": res["pred_xstart"],
                   p + "sample": res["sample"]})
    save(ps, "latte_tiny_pstep.safetensors",
         meta_for(tiny_meta, {}, weights="latte_tiny.safetensors", diffusion='create_diffusion("250")',
                  diffusion_steps="1000", noise_schedule="linear", model_var_type="LEARNED_RANGE",
                  model_mean_type="EPSILON", rescale_timesteps="no (Latte's _WrappedModel has it commented out: "
                  "the model gets timestep_map[t] unscaled)", clip_denoised="False", cfg_scale="4.0",
                  sample_fn="model.forward_with_cfg", use_fp16="False", indices="249,100"))

    # ---- 5: deterministic-fill fixtures (no weights) --------------------------------------------
    def det_case(fname, cfg, tval, yval=None):
        kw = {k: v for k, v in cfg.items() if k != "preset"}
        m = L.Latte_models[cfg["preset"]](**kw).eval()
        det_fill(m, skip=FIXED)
        counts = param_counts(m)
        n = 16 * 4 * 32 * 32
        x = det_unit("input", n).to(torch.float32).reshape(1, 16, 4, 32, 32)
        t = torch.tensor([tval], dtype=torch.int64)
        y = None if yval is None else torch.tensor([yval], dtype=torch.int64)
        o = m(x, t, y)
        io = {"t": t, "out_frames": o[:, DET_FRAMES].contiguous(),
              "out_frame_index": torch.tensor(DET_FRAMES, dtype=torch.int64),
              "out_mean_fc": o.double().mean(dim=(3, 4))[0].float(),
              "out_absmean_fc": o.double().abs().mean(dim=(3, 4))[0].float(),
              "param_counts": torch.tensor([counts[k] for k in ("param_count_total", "param_count_trainable",
                                                                "param_count_label_table", "param_count_pos_embed",
                                                                "param_count_temp_embed")], dtype=torch.int64)}
        if y is not None:
            io["y"] = y
        meta = meta_for(base, cfg, **counts, fill="det_fill.py det_fill(model, skip=(pos_embed, temp_embed))",
                        input='x = det_unit("input", 65536).float().reshape(1, 16, 4, 32, 32)',
                        out_shape=str(tuple(o.shape)), out_frames="out[:, [0, 15]]",
                        param_counts_order="total, trainable, label_table, pos_embed, temp_embed")
        save(io, fname, meta)
        print(f"{fname}: out abs mean {float(o.abs().mean()):.4f} max {float(o.abs().max()):.4f}", counts)
        del m

    det_case("latte_s4_uncond_det.safetensors", S4, 999)
    if not args.skip_big:
        det_case("latte_xl2_det.safetensors", XL2, 500, 7)

    print(f"tiny out abs mean {float(out.abs().mean()):.4f} max {float(out.abs().max()):.4f}; "
          f"cfg_out abs mean {float(cfg_out.abs().mean()):.4f}; uncond out abs mean "
          f"{float(unc(xu, tu).abs().mean()):.4f}")
    print(f"{'file':34s} {'bytes':>8s}  tensors")
    for name, size, keys in summary:
        print(f"{name:34s} {size:8d}  " + ", ".join(f"{k} {s} {d}" for k, (s, d) in keys.items()))


if __name__ == "__main__":
    main()
