#!/usr/bin/env python3
"""Generates the long-video parity fixture tests/data/hierarchy/long_video_steps.safetensors from the
OFFICIAL LVDM long-video sampling code, which is NOT part of this repository:

    git -C /path/to/LVDM-mirror archive d251dcc | tar -x -C /tmp/lvdm-src   # or a clone
    python tests/data/gen/gen_long_video.py --lvdm-src /tmp/lvdm-src     # or LVDM_SRC=/tmp/lvdm-src

It builds lvdm.models.ddpm3d.FrameInterpPredLatentDiffusion models from configs/lvdm_long/sky_pred.yaml
and sky_interp.yaml (tests/data/configs/lvdm/lvdm_long/) with reduced widths (U-Net model_channels 32,
channel_mult [1, 2], one res block, attention at 2x down, 8x8 latents; the autoencoder as configured),
fills every parameter of both U-Nets (the official diffusion_model modules, zero-initialised output
layers included, so eps is not 0) with det_fill (det_fill.py, mirrored by test::det_fill in
tests/parity.h), hashing "pred." + name and "interp." + name (name: the official parameter name after
`model.diffusion_model.`) so the two U-Nets differ, and runs scripts/sample_long_videos_utils.py:
  * autoregressive_pred(n_pred_steps=1, T_cond=1, s=100, w=0.1 'cfg_original', DDIM 10 steps eta 1)
    after torch.manual_seed(PRED_SEED): the unconditional first clip and one prediction step;
  * interpolate(base latents [1,4,4,8,8], same options) after torch.manual_seed(INTERP_SEED): one
    interpolation step between base[:, :, 0] and base[:, :, 1].
All randomness is torch's global CPU generator, which LibTorch reproduces from the same seed, so the
C++ test draws the same numbers in the same order from at::Generator(seed).

Stored (fp32; no weights, the test rebuilds them with test::det_fill): pred_out [1,4,7,8,8]
(= log['sample']), interp_base [1,4,4,8,8], interp_out [1,4,5,8,8] (= log['sample_z']); int64
{pred,interp}_param_count / _param_tensors (checked against the C++ U-Nets); metadata: seeds, options,
the reduced U-Net configs as JSON and the weight rule (weights, weights_name_prefix).
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
from det_fill import det_fill  # mirrored by test::det_fill (tests/parity.h)

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = os.path.join(HERE, "..", "configs", "lvdm", "lvdm_long")
OUT = os.path.join(HERE, "..", "hierarchy", "long_video_steps.safetensors")
PRED_SEED, INTERP_SEED, STEPS = 1234, 4321, 10
REDUCE = dict(model_channels=32, channel_mult=[1, 2], num_res_blocks=1, attention_resolutions=[2], image_size=8,
              num_heads=4)


def install_import_stubs():
    import torch.nn as nn
    pl = types.ModuleType("pytorch_lightning")

    class LightningModule(nn.Module):
        @property
        def device(self):
            return torch.device("cpu")

    pl.LightningModule = LightningModule
    utils = types.ModuleType("pytorch_lightning.utilities")
    utils.rank_zero_only = lambda f: f
    distributed = types.ModuleType("pytorch_lightning.utilities.distributed")
    distributed.rank_zero_only = lambda f: f
    pl.utilities = utils
    sys.modules["pytorch_lightning"] = pl
    sys.modules["pytorch_lightning.utilities"] = utils
    sys.modules["pytorch_lightning.utilities.distributed"] = distributed
    tv = types.ModuleType("torchvision")
    tvu = types.ModuleType("torchvision.utils")
    tvu.make_grid = None
    tv.utils = tvu
    sys.modules["torchvision"] = tv
    sys.modules["torchvision.utils"] = tvu
    su = types.ModuleType("lvdm.utils.saving_utils")
    su.log_txt_as_img = None
    sys.modules["lvdm.utils.saving_utils"] = su


def build(name):
    with open(os.path.join(CONFIGS, name)) as f:
        cfg = yaml.safe_load(f)
    p = cfg["model"]["params"]
    p["image_size"] = REDUCE["image_size"]
    p["unet_config"]["params"].update(REDUCE)
    p["unet_config"]["params"]["use_checkpoint"] = False
    p["first_stage_config"]["params"]["lossconfig"] = {"target": "torch.nn.Identity"}
    p["use_ema"] = False
    from omegaconf import OmegaConf
    from lvdm.utils.common_utils import instantiate_from_config
    model = instantiate_from_config(OmegaConf.create(cfg["model"])).eval()
    return model, cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    lvdm_src.add_argument(ap)
    args = ap.parse_args()
    lvdm_src.use(args.lvdm_src)
    install_import_stubs()
    torch.Tensor.cuda = lambda self, *a, **k: self  # interpolate() calls .cuda(); CPU here
    torch.cuda.empty_cache = lambda: None
    from scripts.sample_long_videos_utils import autoregressive_pred, interpolate
    import lvdm.samplers.ddim as lvdm_ddim
    # DDIMSampler.register_buffer moves every buffer to CUDA; keep them on the CPU (same values).
    lvdm_ddim.DDIMSampler.register_buffer = lambda self, name, attr: setattr(self, name, attr)

    torch.manual_seed(0)
    pred, pred_cfg = build("sky_pred.yaml")
    interp, interp_cfg = build("sky_interp.yaml")
    tensors = {}
    for which, model in (("pred", pred), ("interp", interp)):
        net = model.model.diffusion_model
        det_fill(net, prefix=which + ".")  # det_param("pred." + official name, shape), etc.
        tensors[which + "_param_count"] = torch.tensor([sum(p.numel() for p in net.parameters())], dtype=torch.int64)
        tensors[which + "_param_tensors"] = torch.tensor([len(list(net.parameters()))], dtype=torch.int64)

    opts = dict(sample_cond_noise_level=100, uncond_scale=0.1, uc_type="cfg_original", sample_type="ddim",
                ddim_steps=STEPS, eta=1.0)
    with torch.no_grad():
        torch.manual_seed(PRED_SEED)
        log = autoregressive_pred(pred, 1, T_cond=1, n_pred_steps=1, **opts)
        tensors["pred_out"] = log["sample"].float().contiguous()
        base = torch.randn(1, 4, 4, 8, 8, generator=torch.Generator().manual_seed(7))
        torch.manual_seed(INTERP_SEED)
        log = interpolate(base, interp, 1, **opts)
        tensors["interp_base"] = base.contiguous()
        tensors["interp_out"] = log["sample_z"].float().contiguous()
    meta = {
        "generator": "tests/data/gen/gen_long_video.py",
        "reference": "YingqingHe/LVDM@d251dcc scripts/sample_long_videos_utils.py",
        "pred_seed": str(PRED_SEED), "interp_seed": str(INTERP_SEED), "ddim_steps": str(STEPS), "eta": "1.0",
        "cond_noise_level": "100", "uncond_scale": "0.1",
        "pred_unet": json.dumps(pred_cfg["model"]["params"]["unet_config"]["params"]),
        "interp_unet": json.dumps(interp_cfg["model"]["params"]["unet_config"]["params"]),
        "weights": "det_fill (tests/data/gen/det_fill.py; test::det_fill in tests/parity.h), not stored",
        "weights_name_prefix": "det_param(which + '.' + name): which = pred | interp, name = the official "
                               "parameter name after model.diffusion_model.",
    }
    save_file(tensors, OUT, metadata=meta)
    print("wrote", OUT, "pred_out", tuple(tensors["pred_out"].shape), "interp_out", tuple(tensors["interp_out"].shape),
          "bytes", os.path.getsize(OUT))


if __name__ == "__main__":
    main()
