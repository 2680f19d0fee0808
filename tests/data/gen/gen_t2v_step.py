#!/usr/bin/env python3
"""Generates tests/data/text/t2v_ddim_step.safetensors: the first TWO DDIM steps (eta 1, classifier-free
guidance 15) of LVDM's text-to-video sampling, run by the OFFICIAL LVDM code on a reduced random-weight
model, with the text context from transformers' CLIPTokenizer + CLIPTextModel (the tiny CLIP of
gen_clip_text.py). The official code is NOT part of this repository:

    mkdir -p /tmp/lvdm-src && git -C LVDM.git archive d251dcc | tar -x -C /tmp/lvdm-src
    OMP_NUM_THREADS=1 python tests/data/gen/gen_t2v_step.py --lvdm-src /tmp/lvdm-src [--out tests/data/text]

(--lvdm-src defaults to $LVDM_SRC.) Needs torch, numpy, einops, omegaconf, pytorch_lightning, torchvision,
opencv, imageio, tqdm (the official imports), safetensors and transformers >= 5 (tested: torch 2.11,
transformers 5.24.0, pytorch_lightning 2.6.6). CPU only, float32, a few seconds. Nothing is downloaded.

What runs (all official code unless marked *):
  model     lvdm.models.ddpm3d.LatentDiffusion from MODEL_CONFIG below (a reduced
            configs/lvdm_short/text2video.yaml: crossattn, linear 0.00085..0.012, eps, image_size [8, 8],
            U-Net model_channels 32, channel_mult [1, 2], attention_resolutions [2, 1], context_dim 64,
            temporal_length 4, relative positions). * The U-Net (model.model.diffusion_model) is filled with
            det_fill.det_fill under its own parameter names (no "model.diffusion_model." prefix), like
            unet3d_t2v_small_det in lvdm_unet3d.py; the tiny first stage is never used.
  text      lvdm.models.modules.condition_modules.FrozenCLIPEmbedder, built by LatentDiffusion from
            cond_stage_config with version = tests/data/text/clip_small. Its CLIPTokenizer.from_pretrained
            is the real one on that folder; * its CLIPTextModel.from_pretrained is replaced (no hub) by a
            CLIPTextModel with the config in clip_text_tiny.safetensors' metadata, eager attention, filled by
            det_fill under the names text_model.* exactly as gen_clip_text.py does.
            c  = scripts/sample_utils.get_conditions(PROMPT, model, 1)  -> {"c_crossattn": [context]}
            uc = get_conditions("", model, 1)                            -> {"c_crossattn": [uncond_context]}
  sampling  scripts/sample_utils.sample_batch(model, [1, 4, 4, 8, 8], c, "ddim", DDIMSampler(model),
            ddim_steps=50, eta=1.0, unconditional_guidance_scale=15.0, uc=uc, x_T=x_T), i.e.
            DDIMSampler.sample -> ddim_sampling -> p_sample_ddim, stopped (* exception) after two steps.
            * lvdm.samplers.ddim.noise_like returns noise_0 then noise_1 (stored); * DDIMSampler.register_buffer
            keeps the tensors on the CPU instead of moving them to "cuda" (values and dtypes unchanged).
"""
import argparse
import json
import os

import lvdm_src

import torch
from safetensors import safe_open
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
TEXT = os.path.join(HERE, "..", "text")
import det_fill  # noqa: E402
import gen_clip_text  # noqa: E402  (run_model / tiny_config: the reference CLIP fill, used as a check)

PROMPT = "two red squares moving left"
STEPS, ETA, SCALE = 50, 1.0, 15.0
SHAPE = (1, 4, 4, 8, 8)  # B, C, T, H, W
SEED_X_T, SEED_NOISE = 20240701, 20240702
LVDM_COMMIT = "d251dcc"

MODEL_CONFIG = {
    "target": "lvdm.models.ddpm3d.LatentDiffusion",
    "params": {
        "linear_start": 0.00085, "linear_end": 0.012, "num_timesteps_cond": 1, "log_every_t": 200,
        "timesteps": 1000, "beta_schedule": "linear", "parameterization": "eps",
        "first_stage_key": "video", "cond_stage_key": "caption",
        "image_size": [8, 8], "video_length": 4, "channels": 4, "cond_stage_trainable": False,
        "conditioning_key": "crossattn", "scale_by_std": False, "scale_factor": 0.18215, "use_ema": False,
        "unet_config": {
            "target": "lvdm.models.modules.openaimodel3d.UNetModel",
            "params": {
                "image_size": 8, "in_channels": 4, "out_channels": 4, "model_channels": 32,
                "attention_resolutions": [2, 1], "num_res_blocks": 1, "channel_mult": [1, 2], "num_heads": 2,
                "transformer_depth": 1, "context_dim": 64, "use_checkpoint": False, "legacy": False,
                "kernel_size_t": 1, "padding_t": 0, "use_temporal_transformer": True, "temporal_length": 4,
                "use_relative_position": True,
            },
        },
        "first_stage_config": {  # tiny, random, never called while sampling latents
            "target": "lvdm.models.autoencoder.AutoencoderKL",
            "params": {
                "embed_dim": 4, "monitor": "val/rec_loss",
                "ddconfig": {"double_z": True, "z_channels": 4, "resolution": 16, "in_channels": 3, "out_ch": 3,
                             "ch": 32, "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": [],
                             "dropout": 0.0},
                "lossconfig": {"target": "torch.nn.Identity"},
            },
        },
        "cond_stage_config": {
            "target": "lvdm.models.modules.condition_modules.FrozenCLIPEmbedder",
            "params": {"version": None, "device": "cpu", "max_length": 77},  # version: the clip_small folder
        },
    },
}


class _StopAfterTwo(Exception):
    pass


def clip_config(tiny_path):
    """CLIPTextConfig from the `config` metadata of clip_text_tiny.safetensors (gen_clip_text.py)."""
    from transformers import CLIPTextConfig
    with safe_open(tiny_path, "pt") as f:
        meta = f.metadata()
    cfg = CLIPTextConfig(**json.loads(meta["config"]), projection_dim=64, attention_dropout=0.0)
    cfg._attn_implementation = "eager"  # as gen_clip_text.run_model
    return cfg


def det_clip_text_model(cfg):
    """CLIPTextModel filled as gen_clip_text.run_model does: det_fill under the names text_model.*."""
    from transformers import CLIPTextModel
    model = CLIPTextModel(cfg).eval()
    tm = getattr(model, "text_model", model)
    holder = torch.nn.Module()
    holder.text_model = tm
    det_fill.det_fill(holder)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    lvdm_src.add_argument(ap)
    ap.add_argument("--out", default=TEXT)
    ap.add_argument("--clip-dir", default=os.path.join(TEXT, "clip_small"))
    ap.add_argument("--clip-tiny", default=os.path.join(TEXT, "clip_text_tiny.safetensors"))
    args = ap.parse_args()
    root = lvdm_src.use(args.lvdm_src)
    torch.set_num_threads(1)
    torch.manual_seed(0)  # only the (unused) first stage's default init draws from the global generator

    from omegaconf import OmegaConf
    import lvdm.models.modules.condition_modules as cm
    import lvdm.samplers.ddim as lvdm_ddim
    from lvdm.utils.common_utils import instantiate_from_config
    from scripts.sample_utils import get_conditions, make_model_input_shape, sample_batch

    # ---- the text encoder: the official FrozenCLIPEmbedder, its CLIPTextModel without the hub -------------
    cfg = clip_config(args.clip_tiny)
    ref_cfg = gen_clip_text.tiny_config(cfg.vocab_size, cfg.bos_token_id, cfg.eos_token_id)
    for k in json.loads(safe_open(args.clip_tiny, "pt").metadata()["config"]):
        assert getattr(cfg, k) == getattr(ref_cfg, k), k
    text_model = det_clip_text_model(cfg)

    class _LocalCLIPTextModel:
        @staticmethod
        def from_pretrained(version):
            assert version == os.path.abspath(args.clip_dir), version
            return text_model

    cm.CLIPTextModel = _LocalCLIPTextModel  # CLIPTokenizer stays the real one (reads clip_small/)

    # ---- the LatentDiffusion model ---------------------------------------------------------------------------
    config = OmegaConf.create(MODEL_CONFIG)
    config.params.cond_stage_config.params.version = os.path.abspath(args.clip_dir)
    model = instantiate_from_config(config)
    model.eval()
    unet = model.model.diffusion_model
    assert len(list(unet.buffers())) == 0
    det_fill.det_fill(unet)  # every parameter, under the U-Net's own names
    n_params = sum(p.numel() for p in unet.parameters())
    assert model.cond_stage_model.transformer is text_model and model.scale_factor == 0.18215

    # ---- conditions, as scripts/sample_text2video.py -------------------------------------------------------
    with torch.no_grad():
        cond = get_conditions(PROMPT, model, SHAPE[0])
        uncond = get_conditions("", model, SHAPE[0])
    context = cond["c_crossattn"][0].contiguous()
    uncond_context = uncond["c_crossattn"][0].contiguous()
    assert context.shape == (1, 77, 64) and context.dtype == torch.float32

    # check against gen_clip_text.py's own model and its stored fixture
    tok = model.cond_stage_model.tokenizer
    enc = lambda p: tok([p], truncation=True, max_length=77, return_length=True, return_overflowing_tokens=False,
                        padding="max_length", return_tensors="pt")["input_ids"].to(torch.int64)
    ids, uc_ids = enc(PROMPT), enc("")
    _, ref = gen_clip_text.run_model(ref_cfg, torch.cat([ids, uc_ids]), torch.float32)
    assert torch.equal(ref["last_hidden_state"][0:1], context), "c differs from gen_clip_text.run_model"
    assert torch.equal(ref["last_hidden_state"][1:2], uncond_context), "uc differs from gen_clip_text.run_model"
    with safe_open(args.clip_tiny, "pt") as f:
        stored_ids, stored_lhs = f.get_tensor("input_ids"), f.get_tensor("last_hidden_state")
    assert torch.equal(stored_ids[2:3], uc_ids)  # row 2 of clip_text_tiny is the empty prompt
    uc_vs_stored = (stored_lhs[2:3] - uncond_context).abs().max().item()
    with torch.no_grad():
        stored_vs_model = (text_model(input_ids=stored_ids).last_hidden_state - stored_lhs).abs().max().item()
    assert uc_vs_stored == 0.0 and stored_vs_model == 0.0, (uc_vs_stored, stored_vs_model)
    print("text: ids", ids[0, :8].tolist(), "c/uc equal to gen_clip_text.run_model and clip_text_tiny row 2")

    # ---- sampling: the official loop, two steps ----------------------------------------------------------
    lvdm_ddim.DDIMSampler.register_buffer = lambda self, name, attr: setattr(self, name, attr)
    g = torch.Generator().manual_seed(SEED_X_T)
    x_T = torch.randn(SHAPE, generator=g, dtype=torch.float32)
    g = torch.Generator().manual_seed(SEED_NOISE)
    noises = [torch.randn(SHAPE, generator=g, dtype=torch.float32) for _ in range(2)]
    noise_calls = []

    def noise_like(shape, device, repeat=False):
        assert not repeat and tuple(shape) == SHAPE
        noise_calls.append(len(noise_calls))
        return noises[len(noise_calls) - 1].clone()

    lvdm_ddim.noise_like = noise_like

    apply_calls = []
    orig_apply = model.apply_model

    def apply_model(x, t, c, **kw):
        out = orig_apply(x, t, c, **kw)
        apply_calls.append({"x": x.clone(), "t": t.clone(), "ctx": c["c_crossattn"][0], "out": out.clone()})
        return out

    model.apply_model = apply_model

    sampler = lvdm_ddim.DDIMSampler(model)
    steps = []
    orig_step = sampler.p_sample_ddim

    def p_sample_ddim(x, c, t, index, **kw):
        x_in = x.clone()
        x_prev, pred_x0 = orig_step(x, c, t, index, **kw)
        steps.append({"x": x_in, "t": t.clone(), "index": index, "x_prev": x_prev.clone(),
                      "pred_x0": pred_x0.clone(), "kw": {k: kw[k] for k in ("unconditional_guidance_scale",
                                                                            "temperature", "uc_type")}})
        if len(steps) == 2:
            raise _StopAfterTwo
        return x_prev, pred_x0

    sampler.p_sample_ddim = p_sample_ddim
    noise_shape = make_model_input_shape(model, SHAPE[0], T=SHAPE[2])
    assert tuple(noise_shape) == SHAPE, noise_shape
    try:
        sample_batch(model, noise_shape, cond, sample_type="ddim", sampler=sampler, ddim_steps=STEPS, eta=ETA,
                     unconditional_guidance_scale=SCALE, uc=uncond, denoising_progress=False, x_T=x_T.clone())
        raise RuntimeError("the sampling loop did not stop after two steps")
    except _StopAfterTwo:
        pass

    # ---- checks and what the official code used --------------------------------------------------------
    assert len(steps) == 2 and len(noise_calls) == 2 and len(apply_calls) == 4
    assert torch.equal(steps[0]["x"], x_T) and torch.equal(steps[1]["x"], steps[0]["x_prev"])
    ddim_ts = [int(v) for v in sampler.ddim_timesteps]
    sched = {}
    tensors = {"x_T": x_T, "context": context, "uncond_context": uncond_context,
               "input_ids": ids.contiguous(), "uncond_input_ids": uc_ids.contiguous()}
    a_t, a_prev, sig, s1m = [], [], [], []
    for k, s in enumerate(steps):
        cc, uu = apply_calls[2 * k], apply_calls[2 * k + 1]
        # not batched: e_t = apply_model(x, t, c), then e_t_uncond = apply_model(x, t, uc), each batch 1
        assert cc["ctx"] is context and uu["ctx"] is uncond_context
        assert torch.equal(cc["x"], s["x"]) and torch.equal(uu["x"], s["x"]) and cc["x"].shape[0] == 1
        assert torch.equal(cc["t"], s["t"]) and cc["t"].dtype == torch.int64
        e_c, e_u = cc["out"], uu["out"]
        eps = e_u + SCALE * (e_c - e_u)  # uc_type None
        i = s["index"]
        size = (1, 1, 1, 1, 1)
        at = torch.full(size, sampler.ddim_alphas[i])
        ap = torch.full(size, sampler.ddim_alphas_prev[i])
        st = torch.full(size, sampler.ddim_sigmas[i])
        sq = torch.full(size, sampler.ddim_sqrt_one_minus_alphas[i])
        pred_x0 = (s["x"] - sq * eps) / at.sqrt()
        x_prev = ap.sqrt() * pred_x0 + (1. - ap - st ** 2).sqrt() * eps + st * noises[k] * 1.0
        assert torch.equal(pred_x0, s["pred_x0"]) and torch.equal(x_prev, s["x_prev"]), k
        a_t.append(at.item()); a_prev.append(ap.item()); sig.append(st.item()); s1m.append(sq.item())
        sched[f"step{k}"] = {"t": int(s["t"][0]), "index": i, "ddim_alphas[index]": float(sampler.ddim_alphas[i]),
                             "ddim_alphas_prev[index]": float(sampler.ddim_alphas_prev[i]),
                             "ddim_sigmas[index]": float(sampler.ddim_sigmas[i]),
                             "ddim_sqrt_one_minus_alphas[index]": float(sampler.ddim_sqrt_one_minus_alphas[i])}
        tensors[f"noise_{k}"] = noises[k]
        tensors[f"x_{k + 1}"] = s["x_prev"]
        tensors[f"pred_x0_{k}"] = s["pred_x0"]
        tensors[f"eps_{k}"] = eps
        tensors[f"eps_cond_{k}"] = e_c
        tensors[f"eps_uncond_{k}"] = e_u
        print(f"step {k}: t {int(s['t'][0])} index {i} a_t {at.item():.9g} a_prev {ap.item():.9g} "
              f"sigma {st.item():.9g} |x_prev| {s['x_prev'].abs().mean().item():.5f} "
              f"|pred_x0| {s['pred_x0'].abs().mean().item():.5f}")
    tensors["timesteps"] = torch.tensor([int(s["t"][0]) for s in steps], dtype=torch.int64)
    tensors["ddim_index"] = torch.tensor([s["index"] for s in steps], dtype=torch.int64)
    tensors["a_t"] = torch.tensor(a_t, dtype=torch.float32)
    tensors["a_prev"] = torch.tensor(a_prev, dtype=torch.float32)
    tensors["sigma_t"] = torch.tensor(sig, dtype=torch.float32)
    tensors["sqrt_one_minus_at"] = torch.tensor(s1m, dtype=torch.float32)
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    dtypes = {n: (str(getattr(sampler, n).dtype) if hasattr(getattr(sampler, n), "dtype") else "?") + " " +
              type(getattr(sampler, n)).__module__ for n in
              ("ddim_alphas", "ddim_alphas_prev", "ddim_sigmas", "ddim_sqrt_one_minus_alphas", "alphas_cumprod")}

    import transformers
    meta = {
        "generator": "tests/data/gen/gen_t2v_step.py",
        "reference": f"YingqingHe/LVDM@{LVDM_COMMIT} scripts/sample_utils.sample_batch -> lvdm/samplers/ddim.py "
                     "DDIMSampler (first two steps); lvdm.models.modules.condition_modules.FrozenCLIPEmbedder",
        "lvdm_commit": LVDM_COMMIT,
        "prompt": PROMPT, "uncond_prompt": "",
        "ddim_steps": str(STEPS), "eta": repr(ETA), "cfg_scale": repr(SCALE), "uc_type": "None",
        "shape": json.dumps(list(SHAPE)),
        "ddim_timesteps": json.dumps(ddim_ts),
        "ddim_timesteps_sampled_order": json.dumps(ddim_ts[::-1][:2]),
        "schedule": json.dumps(sched),
        "schedule_dtypes": json.dumps(dtypes),
        "guidance": "e_t = apply_model(x, t, c); e_t_uncond = apply_model(x, t, uc) (two separate batch-1 U-Net "
                    "calls, cond first, NOT cat([uc, c])); eps = e_t_uncond + scale * (e_t - e_t_uncond)",
        "step": "pred_x0 = (x - sqrt_one_minus_at * eps) / sqrt(a_t); dir_xt = sqrt(1 - a_prev - sigma_t^2) * eps; "
                "x_prev = sqrt(a_prev) * pred_x0 + dir_xt + (sigma_t * noise_k) * 1.0; all float32, "
                "a_t/a_prev/sigma_t/sqrt_one_minus_at = float32 scalars (torch.full of the sampler arrays)",
        "noise": "step k's noise_like() call returns noise_k (standard normal); it enters as sigma_t * noise_k",
        "seeds": json.dumps({"x_T": SEED_X_T, "noise_0_then_noise_1": SEED_NOISE}),
        "unet_weights": "det_fill.det_fill(model.model.diffusion_model): every parameter, own names",
        "unet_params": str(n_params),
        "unet_config": json.dumps(MODEL_CONFIG["params"]["unet_config"]["params"]),
        "model_config": json.dumps({k: v for k, v in MODEL_CONFIG["params"].items()
                                    if k not in ("unet_config", "first_stage_config", "cond_stage_config")}),
        "text": "FrozenCLIPEmbedder: CLIPTokenizer(tests/data/text/clip_small)(prompts, truncation=True, "
                "max_length=77, return_length=True, return_overflowing_tokens=False, padding='max_length'); "
                "CLIPTextModel(config of clip_text_tiny.safetensors, eager attention, det_fill under text_model.*)"
                ".last_hidden_state",
        "torch": torch.__version__, "transformers": transformers.__version__,
    }
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "t2v_ddim_step.safetensors")
    save_file(tensors, path, metadata=meta)
    print(f"wrote {path}: {os.path.getsize(path)} bytes; ddim timesteps {ddim_ts[::-1][:2]} (of {len(ddim_ts)}); "
          f"U-Net {n_params} params; LVDM at {root}")
    print("schedule dtypes:", dtypes)


if __name__ == "__main__":
    main()
