#!/usr/bin/env python3
"""Generates the Latte-1 (diffusers LatteTransformer3DModel + LattePipeline) parity fixtures in tests/data/latte1/
from the diffusers source, which is NOT part of this repository (imported, never copied):

    mkdir -p /tmp/diffusers-src && git -C diffusers.git archive 58eb52c0 | tar -x -C /tmp/diffusers-src
    DIFFUSERS_COMMIT=58eb52c0803ea9af3abec60841c2a093bdf1f951 OMP_NUM_THREADS=1 \\
        python tests/data/gen/gen_latte1.py --diffusers-src /tmp/diffusers-src [--out tests/data/latte1] \\
        [--store-vae-weights]

(--diffusers-src defaults to $DIFFUSERS_SRC: the directory holding src/diffusers/; DIFFUSERS_COMMIT names the commit
when the source is a `git archive` without .git.) Generated with huggingface/diffusers@58eb52c0803e (2026-08-23,
diffusers 0.40.0.dev0), torch 2.11.0 (CPU, one thread, fp32 + a float64 rerun). Python needs torch, numpy,
safetensors, transformers (5.x), huggingface_hub, PIL, regex, filelock, requests, httpx (diffusers imports these;
none is used numerically). CPU, a few seconds. The committed files were made with the torch wheel of .venv and
PYTHONPATH=/tmp/diffusers-src/src:<transformers 5.24 / huggingface_hub 2.4 site dir>:<shim dir>:<PIL 13 site dir>,
the shim dir holding one file httpx.py that re-exports httpx2 (`from httpx2 import *`; diffusers' pipeline_utils
imports httpx only for an exception type). The safetensors headers' metadata order may differ between runs; the
tensors are bit-identical.

Latte-1 published configs (HF maxin-cn/Latte-1, read through the `search` index, not downloaded):
  transformer/config.json (main, f8a2f04): activation_fn gelu-approximate, attention_bias true, attention_head_dim 72,
    caption_channels 4096, cross_attention_dim 1152, dropout 0.0, in_channels 4, norm_elementwise_affine false,
    norm_eps 1e-06, norm_type ada_norm_single, num_attention_heads 16, num_embeds_ada_norm 1000, num_layers 28,
    out_channels 8, patch_size 2, sample_size 64 -- it has NO video_length key, so the constructor default 16 applies.
    FULL_CFG below (= that + video_length 16) built on the meta device gives
      parameters 1,057,246,880 (the state_dict holds exactly these: 967 tensors, no buffers),
      buffers    1,198,080 = pos_embed.pos_embed [1, 1024, 1152] + temp_pos_embed [1, 16, 1152], BOTH
                 non-persistent (not in the state_dict / checkpoint; the model recomputes them).
  scheduler/scheduler_config.json: the revision the index holds (86e7584, 421 bytes) is DDIMScheduler, beta 1e-4..0.02
    linear, 1000 steps, epsilon, timestep_spacing leading, clip_sample false, thresholding false, trained_betas null,
    variance_type "learned_range". main (2d6e87c, 414 bytes) could not be read. With "learned_range" the diffusers
    pipeline CANNOT run a DDIM step: from_config keeps variance_type as a hidden config entry (it is an __init__ key
    of a compatible scheduler), pipeline_latte.py then skips its chunk(2, dim=1) and DDIMScheduler.step gets 8 channels
    against 4-channel latents -> RuntimeError (this script checks that). 414 = 421 - 7 bytes is exactly
    "_diffusers_version" 0.29.0.dev0 -> 0.30.0 (-5) and variance_type learned_range -> fixed_small (-2) (the layout of
    HawkT2V's Latte-derived config), so SCHED_CFG below takes those two values (INFERRED, not read). variance_type is
    not used by DDIMScheduler.step itself; it only makes the pipeline keep the first 4 of the 8 output channels.

Fixtures (float32 unless noted; every safetensors file's metadata holds generator, reference, torch and the config)
  tiny_transformer.safetensors     LatteTransformer3DModel(TINY_CFG) weights under diffusers' state_dict names;
                                   torch.manual_seed(0), then every parameter (named_parameters order, including the
                                   blocks' and the model's scale_shift_table) .normal_(0, 0.2).
  tiny_transformer_config.json     model.to_json_string() (what save_config writes as config.json).
  tiny_transformer_io.safetensors  hidden_states [2,4,3,8,8] (B,C,F,H,W), timestep [2] int64 = [10, 937],
                                   encoder_hidden_states [2,6,24], encoder_attention_mask [2,6] (row 1: last 2 zero;
                                   NOT passed to the model, see below);
                                   sample / sample_f64 [2,8,3,8,8] = model(hs, timestep, ehs)  (fp32 / float64 rerun:
                                     model.double(), inputs .double(); the buffers and the sinusoidal timestep
                                     projection are still fp32-computed values, see below);
                                   sample_notemp / sample_notemp_f64: enable_temporal_attentions=False;
                                   hidden_states_f1 [2,4,1,8,8] -> sample_f1 / sample_f1_f64 (single frame);
                                   sample_f1_mask01: single frame WITH encoder_attention_mask (the raw 0/1 mask is
                                     added to the attention logits, see below);
                                   buffer.pos_embed [1,16,32], buffer.temp_pos_embed [1,3,32] (non-persistent buffers);
                                   dbg.* intermediates of the fp32 run (forward hooks): patch_embed [6,16,32],
                                     adaln_t6 [2,192], embedded_timestep [2,32], caption_proj [2,6,32],
                                     spatial0_out [6,16,32], temporal0_in [32,3,32] (after temp_pos_embed),
                                     temporal0_out [32,3,32], spatial1_out [6,16,32].
  scheduler_config.json            the effective DDIMScheduler config (scheduler.to_json_string()) of SCHED_CFG.
  tiny_pipeline_step.safetensors   ONE LattePipeline.__call__ step (the pipeline's own code; stopped after step 0 by
                                   callback_on_step_end setting pipe._interrupt; output_type "latent"), guidance 7.5,
                                   DDIM 50 steps (t = 980, prev 960), eta 0, video_length 3, the tiny transformer and
                                   the tiny VAE (unused: latent output). Shared keys: latents_in [1,4,3,8,8]
                                   (init_noise_sigma = 1), prompt_embeds / negative_prompt_embeds [1,6,24],
                                   prompt_mask [1,6] = [1,1,1,1,0,0], negative_mask [1,6] = [1,0,0,0,0,0],
                                   alpha_prod_t, alpha_prod_t_prev (float32 scalars the DDIM step used), timesteps
                                   (int64 [50], the schedule). Two runs, keys prefixed:
                                   direct.*  prompt_embeds + negative_prompt_embeds passed to __call__: NO masking,
                                             NO truncation (the masks are unused on this path);
                                   t5path.*  prompt text through a stub tokenizer/T5 (returns prompt_mask /
                                             negative_mask and the same embeds): mask_feature=True truncates BOTH
                                             embeds to mask.sum() = 4 tokens (batch 1);
                                   each: encoder_hidden_states (what the transformer got, [2,L,24] = [uncond; cond]),
                                   model_input [2,4,3,8,8], timestep (int64 [2], what the transformer got),
                                   noise_pred [2,8,3,8,8] (transformer output), noise_pred_guided [1,8,3,8,8]
                                   (uncond + 7.5 (text - uncond)), noise_pred_split [1,4,3,8,8] (chunk(2,1)[0], what
                                   scheduler.step got), latents_out [1,4,3,8,8] (after the step; checked against an
                                   independent DDIM step), pred_original_sample [1,4,3,8,8].
  tiny_vae_config.json             AutoencoderKL(VAE_CFG).to_json_string().
  tiny_vae_io.safetensors          latent [2,4,4,4] -> decoded [2,3,8,8] = vae.decode(z).sample; image [1,3,16,16]
                                   -> posterior_mean / posterior_logvar [1,4,8,8] (encode(x).latent_dist: quant_conv
                                   output chunked, logvar clamped to [-30, 20]); *_f64 reruns in float64.
                                   The VAE has 658,375 parameters (2.6 MB fp32), over this directory's size budget, so
                                   its weights are NOT stored by default: every parameter is det_fill.det_param(name,
                                   shape) (det_fill.py, mirrored in C++ by tests/parity.h det_param;
                                   GroupNorm weights = 1 + 0.1 u, biases 0.1 u, >=2-D u / sqrt(fan_in)) under
                                   diffusers' names; --store-vae-weights also writes tiny_vae.safetensors (not committed).

What the diffusers code does (src/diffusers/..., at the commit above) that matters here
  * encoder_attention_mask: LatteTransformer3DModel.forward passes it UNCHANGED (no 0/1 -> -10000 bias conversion,
    despite its docstring) to every spatial block, whose batch is B*F; AttnProcessor2_0 then repeat_interleaves it
    over heads and .view()s it to (B*F, heads, -1, L), which fails for F > 1 (checked below). For F = 1 the 0/1
    values are ADDED to the logits (kept +1, dropped +0). LattePipeline never passes a mask to the transformer.
  * num_frame == 1: temp_pos_embed is not added (i == 0 and num_frame > 1), but the temporal blocks still run
    (attention over one frame). num_frame must otherwise equal video_length (temp_pos_embed is added with
    broadcasting: [B*N, F, D] + [1, video_length, D]).
  * float64 rerun: pos_embed / temp_pos_embed are built in float64 then stored .float(); the timestep sinusoid is
    computed in float32 (get_timestep_embedding) and cast; so sample_f64 still carries those fp32 roundings.
"""
import argparse
import copy
import json
import math
import os
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import det_fill  # noqa: E402  (this repository's deterministic fill)

TINY_CFG = dict(num_layers=2, num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=8,
                patch_size=2, sample_size=8, caption_channels=24, cross_attention_dim=32, video_length=3,
                norm_type="ada_norm_single", activation_fn="gelu-approximate", attention_bias=True,
                norm_elementwise_affine=False, norm_eps=1e-6, num_embeds_ada_norm=1000)

FULL_CFG = {"activation_fn": "gelu-approximate", "attention_bias": True, "attention_head_dim": 72,
            "caption_channels": 4096, "cross_attention_dim": 1152, "in_channels": 4, "norm_elementwise_affine": False,
            "norm_eps": 1e-06, "norm_type": "ada_norm_single", "num_attention_heads": 16, "num_embeds_ada_norm": 1000,
            "num_layers": 28, "out_channels": 8, "patch_size": 2, "sample_size": 64, "video_length": 16}

# maxin-cn/Latte-1 scheduler/scheduler_config.json as the search index holds it (revision 86e7584)
SCHED_CFG_86E7584 = {"_class_name": "DDIMScheduler", "_diffusers_version": "0.29.0.dev0", "beta_end": 0.02,
                     "beta_schedule": "linear", "beta_start": 0.0001, "dynamic_thresholding_ratio": 0.995,
                     "num_train_timesteps": 1000, "prediction_type": "epsilon", "sample_max_value": 1.0,
                     "thresholding": False, "timestep_spacing": "leading", "trained_betas": None,
                     "variance_type": "learned_range", "clip_sample": False}
# main (414 bytes), inferred: see the docstring
SCHED_CFG = dict(SCHED_CFG_86E7584, _diffusers_version="0.30.0", variance_type="fixed_small")

VAE_CFG = dict(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 2,
               up_block_types=["UpDecoderBlock2D"] * 2, block_out_channels=[32, 64], layers_per_block=1,
               latent_channels=4, norm_num_groups=32, sample_size=16)

GUIDANCE = 7.5
STEPS = 50


def diffusers_commit(src):
    if os.environ.get("DIFFUSERS_COMMIT"):
        return os.environ["DIFFUSERS_COMMIT"]
    try:
        return subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], check=True, capture_output=True,
                              text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def save(path, tensors, meta):
    from safetensors.torch import save_file
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, path,
              metadata={k: str(v) for k, v in meta.items()})
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(tensors)} tensors)")


def write_json(path, text):
    with open(path, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def make_tiny_transformer(LatteTransformer3DModel):
    torch.manual_seed(0)
    model = LatteTransformer3DModel(**TINY_CFG).eval()
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.normal_(0.0, 0.2)
    return model


def param_counts_full(LatteTransformer3DModel):
    with torch.device("meta"):
        m = LatteTransformer3DModel(**FULL_CFG)
    n_par = sum(p.numel() for p in m.parameters())
    bufs = {n: tuple(b.shape) for n, b in m.named_buffers()}
    n_buf = sum(b.numel() for b in m.buffers())
    sd = m.state_dict()
    n_sd = sum(t.numel() for t in sd.values())
    return n_par, n_buf, bufs, n_sd, len(sd)


def transformer_fixtures(LatteTransformer3DModel, out, meta):
    model = make_tiny_transformer(LatteTransformer3DModel)
    cfg_text = model.to_json_string()
    write_json(os.path.join(out, "tiny_transformer_config.json"), cfg_text)
    sd = model.state_dict()
    assert "pos_embed.pos_embed" not in sd and "temp_pos_embed" not in sd  # both non-persistent
    save(os.path.join(out, "tiny_transformer.safetensors"), sd, dict(meta, config=json.dumps(TINY_CFG),
                                                                    init="torch.manual_seed(0); normal_(0, 0.2) "
                                                                         "for every parameter"))
    model64 = copy.deepcopy(model).double()

    g = torch.Generator().manual_seed(1)
    hs = torch.randn(2, 4, 3, 8, 8, generator=g)
    ts = torch.tensor([10, 937], dtype=torch.int64)
    ehs = torch.randn(2, 6, 24, generator=g)
    mask = torch.ones(2, 6)
    mask[1, 4:] = 0
    hs1 = torch.randn(2, 4, 1, 8, 8, generator=g)

    # intermediates of the fp32 run
    dbg, hooks = {}, []

    def grab(key, fn):
        def hook(mod, args, output):
            dbg[key] = fn(args, output).detach().clone()
        return hook
    hooks.append(model.pos_embed.register_forward_hook(grab("dbg.patch_embed", lambda a, o: o)))
    hooks.append(model.adaln_single.register_forward_hook(grab("dbg.adaln_t6", lambda a, o: o[0])))
    hooks.append(model.adaln_single.register_forward_hook(grab("dbg.embedded_timestep", lambda a, o: o[1])))
    hooks.append(model.caption_projection.register_forward_hook(grab("dbg.caption_proj", lambda a, o: o)))
    hooks.append(model.transformer_blocks[0].register_forward_hook(grab("dbg.spatial0_out", lambda a, o: o)))
    hooks.append(model.temporal_transformer_blocks[0].register_forward_hook(
        grab("dbg.temporal0_in", lambda a, o: a[0])))
    hooks.append(model.temporal_transformer_blocks[0].register_forward_hook(grab("dbg.temporal0_out", lambda a, o: o)))
    hooks.append(model.transformer_blocks[1].register_forward_hook(grab("dbg.spatial1_out", lambda a, o: o)))

    res = {}
    with torch.no_grad():
        res["sample"] = model(hs, timestep=ts, encoder_hidden_states=ehs, return_dict=False)[0]
        for h in hooks:
            h.remove()
        res["sample_f64"] = model64(hs.double(), timestep=ts, encoder_hidden_states=ehs.double(), return_dict=False)[0]
        res["sample_notemp"] = model(hs, timestep=ts, encoder_hidden_states=ehs, enable_temporal_attentions=False,
                                     return_dict=False)[0]
        res["sample_notemp_f64"] = model64(hs.double(), timestep=ts, encoder_hidden_states=ehs.double(),
                                           enable_temporal_attentions=False, return_dict=False)[0]
        res["sample_f1"] = model(hs1, timestep=ts, encoder_hidden_states=ehs, return_dict=False)[0]
        res["sample_f1_f64"] = model64(hs1.double(), timestep=ts, encoder_hidden_states=ehs.double(),
                                       return_dict=False)[0]
        res["sample_f1_mask01"] = model(hs1, timestep=ts, encoder_hidden_states=ehs, encoder_attention_mask=mask,
                                        return_dict=False)[0]
        # a mask with F > 1 cannot be consumed (view to (B*F, heads, -1, L) fails)
        try:
            model(hs, timestep=ts, encoder_hidden_states=ehs, encoder_attention_mask=mask, return_dict=False)
            mask_f3 = "ran"
        except RuntimeError as e:
            mask_f3 = "RuntimeError: " + str(e).splitlines()[0]
        # F != video_length (and > 1) cannot be run (temp_pos_embed broadcast)
        try:
            model(hs[:, :, :2], timestep=ts, encoder_hidden_states=ehs, return_dict=False)
            f2 = "ran"
        except RuntimeError as e:
            f2 = "RuntimeError: " + str(e).splitlines()[0]
    print("mask with F=3:", mask_f3)
    print("F=2 (video_length 3):", f2)
    assert mask_f3 != "ran" and f2 != "ran"
    d = (res["sample"].double() - res["sample_f64"]).abs().max().item()
    print(f"sample |.|max {res['sample'].abs().max().item():.4f}  fp32 vs f64 max diff {d:.3e}")
    print("f1 mask01 vs no mask max diff", (res["sample_f1_mask01"] - res["sample_f1"]).abs().max().item())

    tensors = dict(hidden_states=hs, timestep=ts, encoder_hidden_states=ehs, encoder_attention_mask=mask,
                   hidden_states_f1=hs1, **{k: v for k, v in res.items()}, **dbg)
    tensors["buffer.pos_embed"] = model.pos_embed.pos_embed
    tensors["buffer.temp_pos_embed"] = model.temp_pos_embed
    save(os.path.join(out, "tiny_transformer_io.safetensors"), tensors,
         dict(meta, config=json.dumps(TINY_CFG), mask_with_f3=mask_f3, f2_with_video_length3=f2,
              fp32_vs_f64_max_abs=f"{d:.6e}",
              note="encoder_attention_mask is not used for sample*; sample_f1_mask01 shows the raw 0/1 mask "
                   "added to the cross-attention logits (F=1 only)"))
    return model


class StubTokenizer:
    """Stands in for T5Tokenizer: a fixed id row and attention mask per text (the ids only key StubT5)."""

    def __init__(self, table):
        self.table = table  # text -> (ids [L], mask [L])

    def __call__(self, texts, padding=None, max_length=None, truncation=None, return_attention_mask=None,
                 add_special_tokens=None, return_tensors=None):
        class Out:
            pass
        o = Out()
        o.input_ids = torch.stack([self.table[t][0] for t in texts])
        o.attention_mask = torch.stack([self.table[t][1] for t in texts])
        return o

    def batch_decode(self, ids):
        return ["" for _ in ids]


class StubT5(torch.nn.Module):
    """Stands in for T5EncoderModel: returns the stored embeddings for the stub ids."""

    def __init__(self, embeds_by_first_id):
        super().__init__()
        self.embeds = embeds_by_first_id
        self.calls = []

    @property
    def dtype(self):
        return torch.float32

    @property
    def device(self):
        return torch.device("cpu")

    def forward(self, input_ids, attention_mask=None):
        self.calls.append((input_ids.clone(), attention_mask.clone()))
        return (torch.stack([self.embeds[int(r[0])] for r in input_ids]),)


def run_one_step(LattePipeline, DDIMScheduler, transformer, vae, sched_cfg, latents, **call_kw):
    sched = DDIMScheduler.from_config(sched_cfg)
    tok = call_kw.pop("tokenizer", None)
    enc = call_kw.pop("text_encoder", None)
    pipe = LattePipeline(tokenizer=tok, text_encoder=enc, vae=vae, transformer=transformer, scheduler=sched)
    pipe.set_progress_bar_config(disable=True)
    rec = {}

    def tr_hook(mod, args, kwargs, output):
        rec["model_input"] = kwargs["hidden_states"].detach().clone()
        rec["encoder_hidden_states"] = kwargs["encoder_hidden_states"].detach().clone()
        rec["timestep"] = kwargs["timestep"].detach().clone()
        rec["noise_pred"] = output[0].detach().clone()
        rec["transformer_mask"] = kwargs.get("encoder_attention_mask")
    h = transformer.register_forward_hook(tr_hook, with_kwargs=True)
    orig_step = sched.step

    def step(model_output, timestep, sample, *a, **kw):
        rec["noise_pred_split"] = model_output.detach().clone()
        rec["step_t"] = int(timestep)
        rec["step_sample"] = sample.detach().clone()
        out = orig_step(model_output, timestep, sample, *a, **kw)
        return out
    sched.step = step

    def cb(p, i, t, kw):
        rec["latents_out"] = kw["latents"].detach().clone()
        p._interrupt = True
        return {}
    try:
        out = pipe(num_inference_steps=STEPS, guidance_scale=GUIDANCE, video_length=latents.shape[2],
                   latents=latents.clone(), output_type="latent", return_dict=False, clean_caption=False,
                   mask_feature=True, callback_on_step_end=cb, callback_on_step_end_tensor_inputs=["latents"],
                   **call_kw)[0]
    finally:
        h.remove()
    assert torch.equal(out, rec["latents_out"])
    assert rec["transformer_mask"] is None
    rec["timesteps"] = sched.timesteps.clone()
    return rec, sched


def pipeline_fixtures(LattePipeline, DDIMScheduler, transformer, vae, out, meta):
    g = torch.Generator().manual_seed(2)
    latents = torch.randn(1, 4, 3, 8, 8, generator=g)
    pe = torch.randn(1, 6, 24, generator=g)
    ne = torch.randn(1, 6, 24, generator=g)
    pmask = torch.tensor([[1, 1, 1, 1, 0, 0]], dtype=torch.int64)
    nmask = torch.tensor([[1, 0, 0, 0, 0, 0]], dtype=torch.int64)

    # the published 86e7584 config cannot run a DDIM step in the pipeline (no learned-sigma split)
    try:
        run_one_step(LattePipeline, DDIMScheduler, transformer, vae, SCHED_CFG_86E7584, latents,
                     prompt_embeds=pe, negative_prompt_embeds=ne, negative_prompt=None)
        learned_range = "ran"
    except RuntimeError as e:
        learned_range = "RuntimeError: " + str(e).splitlines()[0]
    print("scheduler config 86e7584 (variance_type learned_range):", learned_range)
    assert learned_range != "ran"

    tensors = dict(latents_in=latents, prompt_embeds=pe, negative_prompt_embeds=ne, prompt_mask=pmask,
                   negative_mask=nmask)
    paths = {}
    # (a) embeddings passed directly: no mask_feature masking / truncation
    paths["direct"] = run_one_step(LattePipeline, DDIMScheduler, transformer, vae, SCHED_CFG, latents,
                                   prompt_embeds=pe, negative_prompt_embeds=ne, negative_prompt=None)
    # (b) the text path with a stub tokenizer / T5 (returns pe / ne and the masks): mask_feature truncation
    tok = StubTokenizer({"a prompt": (torch.full((6,), 7, dtype=torch.int64), pmask[0]),
                         "": (torch.full((6,), 1, dtype=torch.int64), nmask[0])})
    enc = StubT5({7: pe[0], 1: ne[0]})
    paths["t5path"] = run_one_step(LattePipeline, DDIMScheduler, transformer, vae, SCHED_CFG, latents,
                                   prompt="a prompt", negative_prompt="", tokenizer=tok, text_encoder=enc)
    assert len(enc.calls) == 2 and torch.equal(enc.calls[1][1], nmask)

    sched = None
    for name, (rec, sched) in paths.items():
        t = rec["step_t"]
        np_ = rec["noise_pred"]
        uncond, text = np_.chunk(2)
        guided = uncond + GUIDANCE * (text - uncond)
        split = guided.chunk(2, dim=1)[0]
        assert torch.equal(split, rec["noise_pred_split"]), name
        assert torch.equal(rec["step_sample"], latents), name
        assert torch.equal(rec["model_input"], torch.cat([latents, latents])), name
        # an independent DDIM (eta 0) step
        a_t = sched.alphas_cumprod[t]
        prev_t = t - sched.config.num_train_timesteps // sched.num_inference_steps
        a_prev = sched.alphas_cumprod[prev_t] if prev_t >= 0 else sched.final_alpha_cumprod
        x0 = (latents - (1 - a_t) ** 0.5 * split) / a_t ** 0.5
        prev = a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * split
        assert torch.equal(prev, rec["latents_out"]), (name, (prev - rec["latents_out"]).abs().max())
        L = rec["encoder_hidden_states"].shape[1]
        print(f"{name}: t={t} prev_t={prev_t} tokens={L} transformer timestep={rec['timestep'].tolist()} "
              f"|latents_out|max={rec['latents_out'].abs().max().item():.4f}")
        for k in ("encoder_hidden_states", "model_input", "timestep", "noise_pred", "noise_pred_split",
                  "latents_out"):
            tensors[f"{name}.{k}"] = rec[k]
        tensors[f"{name}.noise_pred_guided"] = guided
        tensors[f"{name}.pred_original_sample"] = x0
    assert paths["direct"][0]["encoder_hidden_states"].shape[1] == 6
    assert torch.equal(paths["t5path"][0]["encoder_hidden_states"], torch.cat([ne[:, :4], pe[:, :4]]))
    t = paths["direct"][0]["step_t"]
    tensors["alpha_prod_t"] = sched.alphas_cumprod[t].reshape(1)
    tensors["alpha_prod_t_prev"] = sched.alphas_cumprod[t - 20].reshape(1)
    tensors["timesteps"] = paths["direct"][0]["timesteps"]
    sched_text = sched.to_json_string()
    write_json(os.path.join(out, "scheduler_config.json"), sched_text)
    save(os.path.join(out, "tiny_pipeline_step.safetensors"), tensors,
         dict(meta, guidance_scale=GUIDANCE, num_inference_steps=STEPS, eta=0.0, step_t=t, prev_t=t - 20,
              scheduler_config=sched_text.strip(), scheduler_source_86e7584=json.dumps(SCHED_CFG_86E7584),
              learned_range_result=learned_range, transformer_config=json.dumps(TINY_CFG)))


def vae_fixtures(AutoencoderKL, out, meta, store_weights):
    vae = AutoencoderKL(**VAE_CFG).eval()
    with torch.no_grad():
        for name, p in vae.named_parameters():
            p.copy_(det_fill.det_param(name, tuple(p.shape)))
    n = sum(p.numel() for p in vae.parameters())
    write_json(os.path.join(out, "tiny_vae_config.json"), vae.to_json_string())
    if store_weights:
        save(os.path.join(out, "tiny_vae.safetensors"), vae.state_dict(), dict(meta, config=json.dumps(VAE_CFG)))
    vae64 = copy.deepcopy(vae).double()
    g = torch.Generator().manual_seed(3)
    z = torch.randn(2, 4, 4, 4, generator=g)
    x = torch.rand(1, 3, 16, 16, generator=g) * 2 - 1
    with torch.no_grad():
        dec = vae.decode(z).sample
        post = vae.encode(x).latent_dist
        dec64 = vae64.decode(z.double()).sample
        post64 = vae64.encode(x.double()).latent_dist
    print(f"vae: {n} parameters; decoded {tuple(dec.shape)} |.|max {dec.abs().max().item():.4f}, "
          f"fp32 vs f64 {(dec.double() - dec64).abs().max().item():.3e}; mean {tuple(post.mean.shape)}")
    save(os.path.join(out, "tiny_vae_io.safetensors"),
         dict(latent=z, decoded=dec, decoded_f64=dec64, image=x, posterior_mean=post.mean,
              posterior_logvar=post.logvar, posterior_mean_f64=post64.mean, posterior_logvar_f64=post64.logvar),
         dict(meta, config=json.dumps(VAE_CFG), parameters=n,
              weights="det_fill.det_param(name, shape) for every named parameter (tests/data/gen/det_fill.py)"))
    return vae


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--diffusers-src", default=os.environ.get("DIFFUSERS_SRC"),
                    help="diffusers checkout / git archive (the directory holding src/diffusers; default $DIFFUSERS_SRC)")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "latte1"))
    ap.add_argument("--store-vae-weights", action="store_true", help="also write tiny_vae.safetensors (2.6 MB)")
    args = ap.parse_args()
    if not args.diffusers_src or not os.path.isdir(os.path.join(args.diffusers_src, "src", "diffusers")):
        sys.exit("give the diffusers source with --diffusers-src PATH or DIFFUSERS_SRC=PATH (holding src/diffusers)")
    src = os.path.abspath(args.diffusers_src)
    sys.path.insert(0, os.path.join(src, "src"))
    torch.set_num_threads(1)
    import diffusers
    from diffusers import AutoencoderKL, DDIMScheduler, LatteTransformer3DModel
    from diffusers.pipelines.latte.pipeline_latte import LattePipeline
    assert os.path.abspath(diffusers.__file__).startswith(src), diffusers.__file__

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    meta = dict(generator="tests/data/gen/gen_latte1.py",
                reference=f"huggingface/diffusers@{diffusers_commit(src)} (diffusers {diffusers.__version__})",
                torch=torch.__version__)

    n_par, n_buf, bufs, n_sd, n_keys = param_counts_full(LatteTransformer3DModel)
    print(f"full Latte-1 transformer (meta): parameters {n_par:,}  buffers {n_buf:,} {bufs}  "
          f"state_dict {n_sd:,} in {n_keys} tensors")
    meta["full_latte1_parameters"] = n_par
    meta["full_latte1_buffers"] = n_buf

    transformer = transformer_fixtures(LatteTransformer3DModel, out, meta)
    vae = vae_fixtures(AutoencoderKL, out, meta, args.store_vae_weights)
    pipeline_fixtures(LattePipeline, DDIMScheduler, transformer, vae, out, meta)
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"total {total} bytes in {out}")


if __name__ == "__main__":
    main()
