#!/usr/bin/env python3
"""The OFFICIAL LVDM side of tools/bench/vs_official.sh (longvid vs YingqingHe/LVDM on the same
checkpoint, shapes, steps, threads and device). The official code is NOT part of this repository:
it is imported from --lvdm-src PATH (else $LVDM_SRC), a checkout or `git archive` of
YingqingHe/LVDM (tested at d251dcc), through tests/data/gen/lvdm_src.py like every fixture
generator. Runs on the CPU in float32 (or under bf16 autocast with --mode autocast); sample and
forward also on a GPU with --device cuda (the official scripts' .cuda(); CUDA-synchronised timers).

    python tools/bench/official_lvdm.py SUBCOMMAND --lvdm-src /tmp/lvdm-src ...

Subcommands
  config      a copy of an official YAML with the benchmark's overrides: the first stage's
              ckpt_path cleared (the checkpoint holds first_stage_model.*, as the official
              scripts' model.params.first_stage_config.params.ckpt_path=... would load), and
              optionally --latent-size N (model.params.image_size and the U-Net's image_size)
              and --model-channels N (the U-Net's width; validation runs only).
  make-ckpt   the config's model (model.target, instantiate_from_config) with seeded random
              weights: every parameter random and non-zero (dim >= 2: normal / sqrt(fan_in), the
              official zero-initialised output convs included; norm weights 1 + 0.05 N; biases
              0.05 N), the EMA copy (model_ema.*, when the config keeps use_ema) equal to them, saved
              as torch.save({"state_dict": model.state_dict()}) like a Lightning checkpoint (plain
              tensors in dicts). --ae-out also writes the first_stage_model.* tensors alone.
  from-safetensors
              a longvid-trained LVDM safetensors (e.g. assets/default/model.safetensors): its
              config (metadata 'longvid.config', official YAML structure) to a YAML, its tensors
              (fp16 -> fp32, same values) plus the schedule buffers the official model registers
              to a .ckpt the official load_model() loads with strict=True.
  sample      one clip as scripts/sample_uncond.py makes it: load_model() (torch.load, state_dict,
              instantiate_from_config, load_state_dict strict; .cuda() with --device cuda), DDIMSampler, eta 1,
              guidance off, decode_first_stage, the official uint8 conversion (torch_to_np:
              ((x + 1) * 127.5).clamp(0, 255).to(uint8), truncating). Frame-mask models
              (FrameInterpPredLatentDiffusion) take the condition sample_uncond_long_videos.py
              gives an unconditional clip: add_conditions_long_video(mask="uncond"), sampled with
              sample_long_videos_utils.sample_clip (EMA scope), uncond_scale 0 (no guidance pass).
              torch.manual_seed(seed) is called right before sampling (sample_uncond.py seeds
              before building the model, whose initialisers then consume the generator; longvid
              draws x_T from a fresh generator of the seed, so the seed is placed where both draw
              the same x_T and step noises). Times load, sampling (per DDIM step) and decode.
              --attention longvid-order (diagnostic, never for timings): QKVAttention computed in
              longvid's op order (SDPA / bmm instead of einsum), to show that the remaining
              frame differences are the attention kernels' float rounding alone.
  forward     K timed forwards of the diffusion model through the official apply_model on a seeded
              input: plain models apply_model(x, t, None); frame-mask models with the condition
              add_conditions_long_video builds (--cond pred: mask on the first T_cond latents +
              noisy condition latents at level s; interp: first + last; uncond: zero mask).
  decode      the official 3D-AE decode (LatentDiffusion.decode_first_stage) of N seeded latent
              frames: all at once (--max-z-t 0, what the official long-video script does) or
              decode_first_stage(max_z_t=W): non-overlapping windows of W latent frames.
              --latent-out writes the latents for `longvid vae decode` (normalized=true).
  compare     uint8 frames of the official run (.npy [T, H, W, 3]) against longvid's (a PNG
              directory, e.g. from `longvid video convert OUT.y4m DIR/`): identical, max abs
              difference, differing values, PSNR.
  timeit      runs a command, timestamps its output lines; writes wall time, peak RSS of the
              child and the time of the first line matching --mark (e.g. longvid's 'loaded ...').
  summarize   the table and JSON summary of a vs_official.sh run directory.

Needs: torch, numpy, einops, omegaconf, pyyaml, safetensors, tqdm, pytorch_lightning (+
lightning_utilities, torchmetrics, packaging), torchvision, imageio, opencv-python-headless and
Pillow (what lvdm/models/ddpm3d.py and lvdm/utils/saving_utils.py import; nothing is stubbed).
"""
import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "data", "gen"))
from official_report import cmd_compare, cmd_summarize, cmd_timeit, write_json  # noqa: E402
import lvdm_src  # noqa: E402  (the --lvdm-src / LVDM_SRC convention of the fixture generators)
from official_common import (  # noqa: E402
    peak_rss_mib, setup_torch, sync, import_official, load_config, load_timed,
    is_masked, latent_shape, StepTimer, attention_in_longvid_order, apply_mode, machine_info)


# ---------------------------------------------------------------------------------------------
# config / make-ckpt / from-safetensors
def cmd_config(a):
    from omegaconf import OmegaConf
    cfg = load_config(a.config)
    if a.latent_size:
        cfg.model.params.image_size = a.latent_size
        cfg.model.params.unet_config.params.image_size = a.latent_size
    if a.model_channels:
        cfg.model.params.unet_config.params.model_channels = a.model_channels
    OmegaConf.save(cfg, a.out)
    print(a.out)


def randomise(model, seed):
    import torch
    g = torch.Generator().manual_seed(seed)
    n = 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                v = torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel())
            elif name.endswith("weight"):  # norm scales (and any other 1-D weight)
                v = 1.0 + 0.05 * torch.randn(p.shape, generator=g)
            else:
                v = 0.05 * torch.randn(p.shape, generator=g)
            p.copy_(v)
            n += p.numel()
            if bool((p == 0).all()):
                raise RuntimeError(f"{name}: still all zero")
    return n


def cmd_make_ckpt(a):
    torch = setup_torch(a.threads)
    OmegaConf, instantiate_from_config, _, _ = import_official()
    from lvdm.models.modules.ema import LitEma
    cfg = load_config(a.config)
    t0 = time.time()
    torch.manual_seed(a.seed)
    model = instantiate_from_config(cfg.model).eval()
    n = randomise(model, a.seed)
    if getattr(model, "use_ema", False):
        model.model_ema = LitEma(model.model)  # the EMA copy = the random weights (any --weights choice agrees)
    sd = model.state_dict()
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    torch.save({"state_dict": sd}, a.out + ".tmp")
    os.replace(a.out + ".tmp", a.out)
    info = {"config": a.config, "ckpt": a.out, "target": cfg.model.target, "seed": a.seed, "parameters": n,
            "unet_parameters": sum(p.numel() for p in model.model.diffusion_model.parameters()),
            "ema": bool(getattr(model, "use_ema", False)), "tensors": len(sd),
            "bytes": os.path.getsize(a.out), "seconds": round(time.time() - t0, 2)}
    if a.ae_out:
        ae = {k: v for k, v in sd.items() if k.startswith("first_stage_model.")}
        torch.save({"state_dict": ae}, a.ae_out + ".tmp")
        os.replace(a.ae_out + ".tmp", a.ae_out)
        info["ae_ckpt"] = a.ae_out
    print(json.dumps(info))
    if a.json:
        write_json(a.json, info)


def cmd_from_safetensors(a):
    import yaml
    torch = setup_torch(a.threads)
    OmegaConf, instantiate_from_config, _, _ = import_official()
    from safetensors import safe_open
    with safe_open(a.model, "pt") as f:
        meta = f.metadata() or {}
        if "longvid.config" not in meta:
            sys.exit(f"{a.model}: no 'longvid.config' metadata (not a longvid-trained LVDM model)")
        cfg = json.loads(meta["longvid.config"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    p = cfg["model"]["params"]
    has_ema = any(k.startswith("model_ema.") for k in tensors)
    # An exported model holds one set of U-Net weights (model.diffusion_model.*): the official
    # model must not expect an EMA copy for its strict load.
    p["use_ema"] = bool(has_ema)
    # longvid-only key (train --interp-consecutive): it makes longvid treat every video as
    # keyframes + interpolation; the official code ignores it. Dropped so that both sides make one
    # plain clip for --frames = one clip.
    dropped = [k for k in ("interp_consecutive_latents",) if p.pop(k, None) is not None]
    with open(a.out_config, "w") as f:
        f.write(f"# from {a.model} metadata 'longvid.config' by tools/bench/official_lvdm.py\n")
        f.write(f"# changed: use_ema {p['use_ema']}; dropped {dropped}\n")
        yaml.safe_dump(cfg, f, sort_keys=False)
    config = OmegaConf.load(a.out_config)
    torch.manual_seed(0)
    model = instantiate_from_config(config.model).eval()
    sd = model.state_dict()
    # SamePadConv3d / SamePadConvTranspose3d alias their inner conv's weight (self.weight =
    # self.conv.weight): official state dicts hold both names, longvid's export only the inner one.
    for k in list(sd):
        if k not in tensors and k.endswith(".weight"):
            for inner in ("conv.weight", "convt.weight"):
                src = k[: -len("weight")] + inner
                if src in tensors:
                    tensors[k] = tensors[src]
                    break
    missing = [k for k in sd if k not in tensors]
    unknown = [k for k in tensors if k not in sd]
    if unknown:
        sys.exit(f"{a.model}: tensors the official model does not have: {unknown[:5]} ...")
    for k, v in tensors.items():
        if tuple(v.shape) != tuple(sd[k].shape):
            sys.exit(f"{k}: shape {tuple(v.shape)} != official {tuple(sd[k].shape)}")
        sd[k] = v.to(sd[k].dtype)
    # What may come from the official model itself: the schedule buffers it computes from the
    # config, and the encoder half of the AE (quant_conv, encoder.*), which `longvid export` leaves
    # out and which sampling and decoding never run (kept at the official initialisation, seed 0).
    encoder = [k for k in missing if k.startswith(("first_stage_model.encoder.", "first_stage_model.quant_conv."))]
    non_schedule = [k for k in missing if k not in encoder and k.startswith(("model.", "first_stage_model.", "model_ema."))]
    if non_schedule:
        sys.exit(f"{a.model}: weights missing for the official model: {non_schedule[:5]} ...")
    missing = [k for k in missing if k not in encoder]
    torch.save({"state_dict": sd}, a.out + ".tmp")
    os.replace(a.out + ".tmp", a.out)
    info = {"model": a.model, "config": a.out_config, "ckpt": a.out, "target": config.model.target,
            "tensors_from_file": len(tensors), "buffers_from_config": missing,
            "encoder_tensors_at_official_init (unused by sampling/decoding)": len(encoder), "dropped_keys": dropped,
            "use_ema": p["use_ema"]}
    print(json.dumps(info))


# ---------------------------------------------------------------------------------------------
# sample / forward / decode
def cmd_sample(a):
    import numpy as np
    torch = setup_torch(a.threads)
    OmegaConf, instantiate_from_config, ddim, ddpm3d = import_official(a.device)
    from scripts.sample_utils import sample_batch
    from scripts.sample_long_videos_utils import add_conditions_long_video, sample_clip
    from lvdm.utils.common_utils import torch_to_np
    timer = StepTimer(ddim, a.device)
    if a.attention == "longvid-order":
        attention_in_longvid_order()

    config, model, t_load = load_timed(a)
    ctx = apply_mode(model, a.mode, a.device)
    shape = latent_shape(model, config, a.frames)
    masked = is_masked(model)

    torch.manual_seed(a.seed)  # see the docstring: where longvid's generator of --seed starts
    sync(a.device)
    t0 = time.perf_counter()
    with torch.no_grad(), ctx():
        if masked:
            cond = add_conditions_long_video(model, {}, shape[0], mask="uncond", input_shape=shape)
            samples = sample_clip(model, shape, sample_type="ddim", ddim_steps=a.steps, eta=1.0, cond=cond,
                                  uc=None, uncond_scale=0.0, uc_type="cfg_original")["sample"]
        else:
            sampler = ddim.DDIMSampler(model)
            samples = sample_batch(model, shape, None, sample_type="ddim", sampler=sampler, ddim_steps=a.steps,
                                   eta=1.0)
    sync(a.device)
    t_sample = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.no_grad():
        video = model.decode_first_stage(samples.float())
    sync(a.device)
    t_decode = time.perf_counter() - t0
    t0 = time.perf_counter()
    frames = torch_to_np(video)[0]  # [T, H, W, 3] uint8, the official conversion
    t_convert = time.perf_counter() - t0
    if a.out_frames:
        np.save(a.out_frames, frames)
    if a.out_latent:
        np.save(a.out_latent, samples.float().cpu().numpy())
    steps = timer.times
    steady = steps[1:] if len(steps) > 1 else steps
    out = {
        "what": "official sample (DDIM eta 1, decode_first_stage, torch_to_np)",
        "config": a.config, "ckpt": a.ckpt, "target": config.model.target, "masked": masked,
        "mode": a.mode, "device": a.device, "attention": a.attention, "threads": torch.get_num_threads(), "steps": a.steps, "seed": a.seed,
        "latent_shape": shape, "frames_shape": list(frames.shape),
        "load_s": t_load, "sample_s": t_sample, "step_s": steps,
        "step_mean_s": sum(steps) / max(len(steps), 1),
        "step_steady_s": sorted(steady)[len(steady) // 2] if steady else None,
        "decode_s": t_decode, "convert_s": t_convert, "run_s": t_sample + t_decode + t_convert,
        "peak_rss_mib": peak_rss_mib(), "machine": machine_info(),
    }
    write_json(a.json, out)
    print(f"official sample: load {t_load:.2f} s, sampling {t_sample:.2f} s ({len(steps)} steps, "
          f"{out['step_mean_s']:.3f} s/step), decode {t_decode:.2f} s, frames {list(frames.shape)}")


def cmd_forward(a):
    import numpy as np
    torch = setup_torch(a.threads)
    OmegaConf, instantiate_from_config, ddim, ddpm3d = import_official(a.device)
    from scripts.sample_long_videos_utils import add_conditions_long_video

    config, model, t_load = load_timed(a)
    ctx = apply_mode(model, a.mode, a.device)
    shape = latent_shape(model, config, None)
    masked = is_masked(model)
    kind = a.cond
    if kind == "auto":
        kind = "uncond"
        if masked:
            kind = "interp" if float(model.p_interp or 0) > 0 and float(model.p_pred or 0) == 0 else "pred"
    if not masked and kind != "uncond":
        sys.exit(f"--cond {kind}: {config.model.target} takes no frame-mask condition")

    torch.manual_seed(a.seed)
    x = torch.randn(shape).to(a.device)
    t = torch.full((shape[0],), a.t, dtype=torch.long, device=a.device)
    if masked:
        cond_frames = None
        if kind == "pred":
            cond_frames = torch.randn(shape[0], shape[1], a.t_cond, *shape[3:]).to(a.device)
        elif kind == "interp":
            cond_frames = torch.randn(shape[0], shape[1], 2, *shape[3:]).to(a.device)
        cond = add_conditions_long_video(model, {}, shape[0], mask=kind, input_shape=shape, T_cond_pred=a.t_cond,
                                         cond_frames=cond_frames,
                                         sample_cond_noise_level=a.s if kind != "uncond" else None)
    else:
        cond = None
    times = []
    out = None
    with torch.no_grad(), ctx():
        for i in range(a.warmup + a.iters):
            xi = x.clone()  # FrameInterpPredLatentDiffusion.apply_model writes the condition latents into x
            c = dict(cond) if isinstance(cond, dict) else cond
            sync(a.device)
            t0 = time.perf_counter()
            out = model.apply_model(xi, t, c)
            sync(a.device)
            dt = time.perf_counter() - t0
            if i >= a.warmup:
                times.append(dt)
    if a.out:
        np.save(a.out, out.float().cpu().numpy())
    res = {"what": f"official apply_model forward ({kind})", "config": a.config, "ckpt": a.ckpt,
           "target": config.model.target, "cond": kind, "mode": a.mode, "device": a.device, "threads": torch.get_num_threads(),
           "input_shape": shape, "t": a.t, "s": a.s if masked and kind != "uncond" else None, "load_s": t_load,
           "warmup": a.warmup, "iters_s": times, "mean_s": sum(times) / len(times), "min_s": min(times),
           "out_mean_abs": float(out.float().abs().mean()), "peak_rss_mib": peak_rss_mib(),
           "machine": machine_info()}
    write_json(a.json, res)
    print(f"official forward ({kind}) {shape}: min {res['min_s']:.3f} s, mean {res['mean_s']:.3f} s over {a.iters}")


def cmd_decode(a):
    import numpy as np
    torch = setup_torch(a.threads)
    OmegaConf, instantiate_from_config, ddim, ddpm3d = import_official()
    from lvdm.utils.common_utils import torch_to_np

    config, model, t_load = load_timed(a)
    shape = latent_shape(model, config, None)
    shape[2] = a.latent_frames
    g = torch.Generator().manual_seed(a.seed)
    z = torch.randn(shape, generator=g)
    if a.latent_out:
        from safetensors.torch import save_file
        fs = config.model.params.first_stage_config.params.ddconfig.encoder.params.downsample
        save_file({"latent": z.contiguous()}, a.latent_out, metadata={
            "normalized": "true", "kind": "lvdm3d", "fps": "8", "frames": str(a.latent_frames * int(fs[0])),
            "height": str(shape[3] * int(fs[1])), "width": str(shape[4] * int(fs[2])),
            "source": "tools/bench/official_lvdm.py decode --seed %d" % a.seed})
    kw = {}
    if a.max_z_t > 0:
        kw["max_z_t"] = a.max_z_t
    reps = []
    video = None
    with torch.no_grad():
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            video = model.decode_first_stage(z, **kw)
            reps.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    if a.quantize == "trunc":
        frames = torch_to_np(video)[0]
    else:  # rounding, as `longvid vae decode` quantises
        frames = ((video.detach().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        frames = frames.permute(0, 2, 3, 4, 1).contiguous().numpy()[0]
    t_convert = time.perf_counter() - t0
    if a.out_frames:
        np.save(a.out_frames, frames)
    res = {"what": "official decode_first_stage" + (f"(max_z_t={a.max_z_t}: non-overlapping windows)"
                                                      if a.max_z_t > 0 else " (all latent frames at once)"),
           "config": a.config, "ckpt": a.ckpt, "threads": torch.get_num_threads(), "latent_shape": shape,
           "frames_shape": list(frames.shape), "max_z_t": a.max_z_t, "quantize": a.quantize, "load_s": t_load,
           "decode_s": min(reps), "decode_runs_s": reps, "convert_s": t_convert,
           "run_s": min(reps) + t_convert, "peak_rss_mib": peak_rss_mib(), "machine": machine_info()}
    write_json(a.json, res)
    print(f"official decode {shape} -> {list(frames.shape)}: {min(reps):.2f} s, peak RSS {res['peak_rss_mib']:.0f} MiB")


# ---------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd_name", required=True)

    def common(p, threads=True):
        lvdm_src.add_argument(p)
        if threads:
            p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
        return p

    p = common(sub.add_parser("config", help="official YAML with the benchmark's overrides"), threads=False)
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--latent-size", type=int, default=0, help="override model.params.image_size (latent h = w)")
    p.add_argument("--model-channels", type=int, default=0,
                   help="override the U-Net's model_channels (a validation setting: a small model)")
    p.set_defaults(fn=cmd_config, needs_lvdm=False)

    p = common(sub.add_parser("make-ckpt", help="random-weight checkpoint of the config's model"))
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--ae-out", default="", help="also write first_stage_model.* alone to this .ckpt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default="")
    p.set_defaults(fn=cmd_make_ckpt, needs_lvdm=True)

    p = common(sub.add_parser("from-safetensors", help="longvid-trained safetensors -> official YAML + .ckpt"))
    p.add_argument("--model", required=True)
    p.add_argument("--out-config", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_from_safetensors, needs_lvdm=True)

    p = common(sub.add_parser("sample", help="one clip, the official way"))
    p.add_argument("--device", default="cpu", help="cpu or cuda (the model moved there, as .cuda(); the official DDIMSampler uses cuda:0)")
    p.add_argument("--config", required=True)
    p.add_argument("--ckpt", required=True)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", type=int, default=0, help="video frames (0: the U-Net's temporal_length latents)")
    p.add_argument("--mode", choices=["eager", "compile", "autocast"], default="eager")
    p.add_argument("--attention", choices=["official", "longvid-order"], default="official",
                   help="longvid-order: DIAGNOSTIC, QKVAttention computed in longvid's op order (not for timing)")
    p.add_argument("--out-frames", default="", help="uint8 frames [T, H, W, 3] (.npy)")
    p.add_argument("--out-latent", default="", help="the sampled latents (.npy)")
    p.add_argument("--json", default="")
    p.set_defaults(fn=cmd_sample, needs_lvdm=True)

    p = common(sub.add_parser("forward", help="K timed diffusion-model forwards"))
    p.add_argument("--device", default="cpu", help="cpu or cuda (the model moved there, as .cuda(); the official DDIMSampler uses cuda:0)")
    p.add_argument("--config", required=True)
    p.add_argument("--ckpt", required=True)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--t", type=int, default=501, help="diffusion timestep")
    p.add_argument("--cond", choices=["auto", "uncond", "pred", "interp"], default="auto",
                   help="frame-mask condition (auto: pred for prediction models, interp for interpolation ones)")
    p.add_argument("--t-cond", type=int, default=1, help="conditioning latents of a prediction clip")
    p.add_argument("--s", type=int, default=100, help="noise level of the condition latents")
    p.add_argument("--mode", choices=["eager", "compile", "autocast"], default="eager")
    p.add_argument("--out", default="", help="the last output (.npy)")
    p.add_argument("--json", default="")
    p.set_defaults(fn=cmd_forward, needs_lvdm=True)

    p = common(sub.add_parser("decode", help="official 3D-AE decode of N latent frames"))
    p.add_argument("--config", required=True)
    p.add_argument("--ckpt", required=True)
    p.add_argument("--latent-frames", type=int, default=64)
    p.add_argument("--max-z-t", type=int, default=16,
                   help="decode_first_stage(max_z_t=W): windows of W latent frames (0: all at once)")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quantize", choices=["trunc", "round"], default="trunc",
                   help="trunc: the official torch_to_np; round: as longvid vae decode")
    p.add_argument("--latent-out", default="", help="write the latents for longvid vae decode (.safetensors)")
    p.add_argument("--out-frames", default="")
    p.add_argument("--json", default="")
    p.set_defaults(fn=cmd_decode, needs_lvdm=True)

    p = sub.add_parser("compare", help="official .npy frames vs longvid PNG frames")
    p.add_argument("--official", required=True)
    p.add_argument("--longvid", required=True, help="PNG directory or .npy")
    p.add_argument("--json", default="")
    p.set_defaults(fn=cmd_compare, needs_lvdm=False)

    p = sub.add_parser("timeit", help="run a command; wall time, peak RSS, time of a marked output line")
    p.add_argument("--json", default="")
    p.add_argument("--log", default="")
    p.add_argument("--mark", default="")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_timeit, needs_lvdm=False)

    p = sub.add_parser("summarize", help="the table + JSON summary of a vs_official.sh run directory")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--json", default="")
    p.set_defaults(fn=cmd_summarize, needs_lvdm=False)

    a = ap.parse_args()
    if a.needs_lvdm:
        lvdm_src.use(a.lvdm_src)
    a.fn(a)


if __name__ == "__main__":
    main()
