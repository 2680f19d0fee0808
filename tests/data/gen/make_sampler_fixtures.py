#!/usr/bin/env python3
"""Generate the sampler parity fixtures in tests/data/sampler/ (read by tests/sampler/*.cpp).

Runs the *official* LVDM sampling code (DDIMSampler, LatentDiffusion.p_sample_loop,
FrameInterpPredLatentDiffusion.apply_model) and diffusers' DDIMScheduler /
DPMSolverMultistepScheduler on a closed-form toy denoiser that the C++ tests re-implement
(`toy_eps` below), with stored initial and per-step noise.

Usage:
  /work/refvenv/bin/python tests/data/gen/make_sampler_fixtures.py --lvdm-src /path/to/LVDM \
      --latte-src /path/to/Latte [--out tests/data/sampler]
  (or LVDM_SRC / LATTE_SRC). The checkouts are only imported, never copied. Latte's
  diffusion/ package (guided-diffusion) gives the respaced DDPM / DDIM references.
Needs: torch, numpy, diffusers, einops, omegaconf, tqdm. pytorch_lightning / torchvision / cv2
are replaced by import stubs (the sampling code never uses them).

Output: sampler_fixtures.json (index + scalars) and sampler_fixtures.bin (raw little-endian
arrays, float32 or float64, C order; each entry has dtype, shape, byte offset).
"""
import argparse

import lvdm_src
import json
import os
import sys
import types

import numpy as np
import torch


# ------------------------------------------------------------------------------------------
# The toy denoiser (mirrored in tests/sampler/sampler_fixture.h: keep the op order identical).
def toy_eps(x, t, mask=None, s=None):
    shape = [-1] + [1] * (x.dim() - 1)
    tt = (t.to(torch.float32) / 1000.0).view(shape)
    e = torch.tanh(x * 0.5) * tt + torch.sin(x) * 0.1
    if mask is not None:
        e = e + mask * torch.cos(x) * 0.2
    if s is not None:
        e = e + (s.to(torch.float32) * 0.001).view(shape)
    return e


# ------------------------------------------------------------------------------------------
class Writer:
    def __init__(self):
        self.blob = bytearray()
        self.index = {}
        self.meta = {}

    def add(self, name, arr):
        if isinstance(arr, torch.Tensor):
            arr = arr.detach().cpu().numpy()
        arr = np.ascontiguousarray(arr)
        assert arr.dtype in (np.float32, np.float64, np.int64), (name, arr.dtype)
        assert name not in self.index, name
        self.index[name] = {"dtype": str(arr.dtype), "shape": list(arr.shape), "offset": len(self.blob)}
        self.blob += arr.astype(arr.dtype.newbyteorder("<")).tobytes()

    def save(self, out_dir):
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "sampler_fixtures.bin"), "wb") as f:
            f.write(bytes(self.blob))
        with open(os.path.join(out_dir, "sampler_fixtures.json"), "w") as f:
            json.dump({"arrays": self.index, "meta": self.meta}, f, sort_keys=True)
        print(f"wrote {len(self.blob)} bytes of arrays, {len(self.index)} entries")


# ------------------------------------------------------------------------------------------
def install_import_stubs():
    """LVDM's ddpm3d.py imports training/logging packages the samplers never touch."""
    import torch.nn as nn

    pl = types.ModuleType("pytorch_lightning")

    class LightningModule(nn.Module):
        @property
        def device(self):
            return torch.device("cpu")

    pl.LightningModule = LightningModule
    utils = types.ModuleType("pytorch_lightning.utilities")
    utils.rank_zero_only = lambda f: f
    pl.utilities = utils
    sys.modules["pytorch_lightning"] = pl
    sys.modules["pytorch_lightning.utilities"] = utils
    tv = types.ModuleType("torchvision")
    tvu = types.ModuleType("torchvision.utils")
    tvu.make_grid = None
    tv.utils = tvu
    sys.modules["torchvision"] = tv
    sys.modules["torchvision.utils"] = tvu
    su = types.ModuleType("lvdm.utils.saving_utils")
    su.log_txt_as_img = None
    sys.modules["lvdm.utils.saving_utils"] = su


class NoiseBank:
    """Replaces LVDM's noise_like: hands out the stored per-step noise in call order."""

    def __init__(self, bank):
        self.bank = bank
        self.i = 0

    def __call__(self, shape, device, repeat=False):
        assert not repeat
        n = self.bank[self.i]
        assert tuple(n.shape) == tuple(shape), (n.shape, shape)
        self.i += 1
        return n.clone()


def make_lvdm_model(cls, DDPM, linear_start, linear_end, beta_schedule="linear"):
    """An LVDM model object without a network: real register_schedule / samplers, toy apply_model."""
    import torch.nn as nn

    m = cls.__new__(cls)
    nn.Module.__init__(m)
    m.parameterization = "eps"
    m.v_posterior = 0.0
    m.clip_denoised = False
    m.log_every_t = 100
    DDPM.register_schedule(m, beta_schedule=beta_schedule, timesteps=1000,
                           linear_start=linear_start, linear_end=linear_end)
    return m


def toy_var(x):
    """Learned-range variance channel of the toy (mirrored in C++: ToyDenoiser::var_from_x)."""
    return torch.tanh(x) * 0.5


def latte_runs(w, latte_root, x_T, bank):
    """guided-diffusion SpacedDiffusion as vendored by Latte: DDPM with learned range / fixed
    large variance and DDIM, on the Latte layout [B, F, C, H, W] (fixtures stay [B, C, F, H, W])."""
    sys.path.insert(0, latte_root)
    from diffusion import create_diffusion, space_timesteps

    w.add("latte/space250", np.asarray(sorted(space_timesteps(1000, "250")), dtype=np.int64))
    to_latte = lambda t: t.permute(0, 2, 1, 3, 4).contiguous()  # B C F H W -> B F C H W
    from_latte = to_latte  # the same swap

    def learned(x, t):
        return torch.cat([toy_eps(x, t), toy_var(x)], dim=2)

    real_randn_like = torch.randn_like
    w.meta["latte_runs"] = {}
    runs = {"latte_ddpm_learned": ("ddpm", True, 0.0), "latte_ddpm_fixed_large": ("ddpm", False, 0.0),
            "latte_ddim_eta1": ("ddim", True, 1.0)}
    for name, (kind, learn_sigma, eta) in runs.items():
        diffusion = create_diffusion("25", learn_sigma=learn_sigma)
        counter = {"i": 0}

        def fake_randn_like(x, *a, **k):
            n = to_latte(bank[counter["i"]])
            counter["i"] += 1
            return n.clone()

        torch.randn_like = fake_randn_like
        model = learned if learn_sigma else (lambda x, t: toy_eps(x, t))
        traj, x0s = [], []
        if kind == "ddpm":
            it = diffusion.p_sample_loop_progressive(model, list(to_latte(x_T).shape), noise=to_latte(x_T),
                                                     clip_denoised=False, device="cpu")
        else:
            it = diffusion.ddim_sample_loop_progressive(model, list(to_latte(x_T).shape), noise=to_latte(x_T),
                                                        clip_denoised=False, device="cpu", eta=eta)
        for out in it:
            traj.append(from_latte(out["sample"]).clone())
            x0s.append(from_latte(out["pred_xstart"]).clone())
        torch.randn_like = real_randn_like
        w.add(f"{name}/traj", torch.stack(traj))
        w.add(f"{name}/pred_x0", torch.stack(x0s))
        w.add(f"{name}/timesteps", np.asarray(diffusion.timestep_map[::-1], dtype=np.int64))
        w.meta["latte_runs"][name] = {"method": kind, "learn_sigma": learn_sigma, "eta": eta, "steps": 25,
                                      "beta_schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02}


def main():
    ap = argparse.ArgumentParser()
    lvdm_src.add_argument(ap)
    ap.add_argument("--latte-src", default=os.environ.get("LATTE_SRC"),
                    help="Latte source checkout (its diffusion/ package = guided-diffusion)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "sampler"))
    args = ap.parse_args()
    # diffusers first: it probes for torchvision, which the stubs below would confuse.
    import diffusers
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    lvdm_src.use(args.lvdm_src)
    install_import_stubs()

    import lvdm.models.ddpm3d as ddpm3d
    from lvdm.models.modules.util import make_ddim_timesteps
    lvdm_ddim_timesteps = lambda S: make_ddim_timesteps("uniform", S, 1000, verbose=False)
    import lvdm.samplers.ddim as lvdm_ddim
    from lvdm.models.modules.util import make_beta_schedule

    # The official DDIMSampler.register_buffer moves every tensor to "cuda"; keep them on the CPU
    # (values and dtypes unchanged).
    lvdm_ddim.DDIMSampler.register_buffer = lambda self, name, attr: setattr(self, name, attr)

    torch.manual_seed(0)
    w = Writer()
    w.meta["versions"] = {"torch": torch.__version__, "numpy": np.__version__,
                          "diffusers": diffusers.__version__}

    # ---------------------------------------------------------------- schedules
    for tag, (kind, b0, b1) in {"lvdm_linear": ("linear", 0.0015, 0.0155),
                                "lvdm_t2v": ("linear", 0.00085, 0.012),
                                "lvdm_cosine": ("cosine", 1e-4, 2e-2),
                                "lvdm_sqrt_linear": ("sqrt_linear", 1e-4, 2e-2),
                                "lvdm_sqrt": ("sqrt", 1e-4, 2e-2)}.items():
        w.add(f"sched/{tag}/betas64", make_beta_schedule(kind, 1000, linear_start=b0, linear_end=b1))
    m = make_lvdm_model(ddpm3d.LatentDiffusion, ddpm3d.DDPM, 0.0015, 0.0155)
    for buf in ["betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod",
                "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_variance",
                "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2"]:
        t = getattr(m, buf)
        assert t.dtype == torch.float32
        w.add(f"sched/lvdm_linear/f32/{buf}", t)
    for tag, (kind, b0, b1) in {"diffusers_linear": ("linear", 1e-4, 0.02),
                                "diffusers_scaled_linear": ("scaled_linear", 0.00085, 0.012),
                                "diffusers_squaredcos_cap_v2": ("squaredcos_cap_v2", 1e-4, 0.02)}.items():
        s = DDIMScheduler(beta_start=b0, beta_end=b1, beta_schedule=kind)
        w.add(f"sched/{tag}/betas32", s.betas)
        w.add(f"sched/{tag}/alphas_cumprod32", s.alphas_cumprod)

    # ---------------------------------------------------------------- shared noise banks
    shape = (2, 4, 2, 2, 2)
    x_T = torch.randn(shape)
    bank = torch.randn((50,) + shape)
    w.add("ddim/x_T", x_T)
    w.add("ddim/noise_bank", bank)  # step i of every DDIM-like run uses bank[i]

    # ---------------------------------------------------------------- LVDM DDIM (uncond)
    for eta in (1.0, 0.0):
        m = make_lvdm_model(ddpm3d.LatentDiffusion, ddpm3d.DDPM, 0.0015, 0.0155)
        m.apply_model = lambda x, t, c, **kw: toy_eps(x, t)
        sampler = lvdm_ddim.DDIMSampler(m)
        traj, x0s = [], []
        orig = sampler.p_sample_ddim

        def rec(*a, _orig=orig, **k):
            out = _orig(*a, **k)
            traj.append(out[0].clone())
            x0s.append(out[1].clone())
            return out

        sampler.p_sample_ddim = rec
        lvdm_ddim.noise_like = NoiseBank(bank)
        out, _ = sampler.sample(S=50, batch_size=shape[0], shape=shape[1:], conditioning=None,
                                eta=eta, verbose=False, x_T=x_T.clone())
        tag = f"lvdm_ddim_eta{int(eta)}"
        w.add(f"{tag}/traj", torch.stack(traj))
        w.add(f"{tag}/pred_x0", torch.stack(x0s))
        w.add(f"{tag}/timesteps", np.asarray(sampler.ddim_timesteps, dtype=np.int64))
        w.add(f"{tag}/sigmas", np.asarray(sampler.ddim_sigmas, dtype=np.float64))
        assert torch.equal(out, traj[-1])

    # ---------------------------------------------------------------- LVDM DDPM p_sample_loop
    dshape = (1, 2, 1, 2, 2)
    dx_T = torch.randn(dshape)
    dbank = torch.randn((1000,) + dshape)
    m = make_lvdm_model(ddpm3d.LatentDiffusion, ddpm3d.DDPM, 0.0015, 0.0155)
    m.apply_model = lambda x, t, c, **kw: toy_eps(x, t)
    ddpm3d.noise_like = NoiseBank(dbank)
    traj = []
    out = m.p_sample_loop(None, dshape, x_T=dx_T.clone(), verbose=False,
                          img_callback=lambda img, i: traj.append(img.clone()))
    w.add("lvdm_ddpm/x_T", dx_T)
    w.add("lvdm_ddpm/noise_bank", dbank)
    w.add("lvdm_ddpm/traj", torch.stack(traj))

    # ------------------------------------------- LVDM long-video prediction step (DDIM + guidance)
    lshape = (2, 4, 4, 2, 2)
    lx_T = torch.randn(lshape)
    lbank = torch.randn((50,) + lshape)
    cond_z0 = torch.randn((2, 4, 1, 2, 2))
    cond_noise = torch.randn_like(cond_z0)
    m = make_lvdm_model(ddpm3d.FrameInterpPredLatentDiffusion, ddpm3d.DDPM, 0.0015, 0.0155)
    m.p_pred, m.p_interp, m.concat_mask_on_input, m.interp_frame_stride = 0.5, 0.0, True, None
    m.model = lambda x, t, c_concat=None, mask=None, s=None, **kw: toy_eps(x, t, mask, s)
    s = torch.full((2,), 100, dtype=torch.long)
    mask = torch.zeros(2, 1, *lshape[2:])
    mask[:, :, :1] = 1
    noisy_cond = m.q_sample(x_start=cond_z0, t=s, noise=cond_noise)
    cond = {"mask": mask, "s": s, "noisy_cond": noisy_cond}
    uc = {"mask": torch.zeros(2, 1, *lshape[2:])}
    sampler = lvdm_ddim.DDIMSampler(m)
    traj = []
    orig = sampler.p_sample_ddim

    def rec2(*a, **k):
        out = orig(*a, **k)
        traj.append(out[0].clone())
        return out

    sampler.p_sample_ddim = rec2
    lvdm_ddim.noise_like = NoiseBank(lbank)
    scale = 0.3
    sampler.sample(S=50, batch_size=2, shape=lshape[1:], conditioning=cond, eta=1.0, verbose=False,
                   x_T=lx_T.clone(), unconditional_guidance_scale=scale, unconditional_conditioning=uc,
                   uc_type="cfg_original")
    w.add("lvdm_long/x_T", lx_T)
    w.add("lvdm_long/noise_bank", lbank)
    w.add("lvdm_long/cond_z0", cond_z0)
    w.add("lvdm_long/cond_noise", cond_noise)
    w.add("lvdm_long/noisy_cond", noisy_cond)
    w.add("lvdm_long/traj", torch.stack(traj))
    w.meta["lvdm_long"] = {"scale": scale, "s": 100, "T_cond": 1}

    # ---------------------------------------------------------------- diffusers runs
    runs = {
        # name: (scheduler, config, steps, eta, prediction)
        "dif_ddim_a": ("ddim", dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                    timestep_spacing="leading", steps_offset=1, set_alpha_to_one=False,
                                    clip_sample=False), 25, 0.0, "epsilon"),
        "dif_ddim_b": ("ddim", dict(beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                                    timestep_spacing="trailing", steps_offset=0, set_alpha_to_one=True,
                                    clip_sample=True), 25, 1.0, "v_prediction"),
        "dif_ddim_c": ("ddim", dict(beta_schedule="squaredcos_cap_v2", timestep_spacing="linspace",
                                    set_alpha_to_one=True, clip_sample=True), 20, 0.5, "sample"),
        "dif_dpm_a": ("dpm", dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012), 25, 0.0,
                      "epsilon"),
        "dif_dpm_b": ("dpm", dict(beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                                  timestep_spacing="trailing"), 10, 0.0, "v_prediction"),
        "dif_dpm_c": ("dpm", dict(beta_schedule="squaredcos_cap_v2", timestep_spacing="leading",
                                  steps_offset=1), 20, 0.0, "epsilon"),
    }
    w.meta["diffusers_runs"] = {}
    for name, (kind, cfg, steps, eta, pred) in runs.items():
        if kind == "ddim":
            sch = DDIMScheduler(num_train_timesteps=1000, prediction_type=pred, **cfg)
        else:
            sch = DPMSolverMultistepScheduler(num_train_timesteps=1000, prediction_type=pred,
                                              algorithm_type="dpmsolver++", solver_order=2, **cfg)
        sch.set_timesteps(steps)
        x = x_T.clone()
        traj, x0s = [], []
        for i, t in enumerate(sch.timesteps):
            tt = torch.full((shape[0],), int(t), dtype=torch.long)
            out = toy_eps(x, tt)
            if kind == "ddim":
                kw = {"variance_noise": bank[i].clone()} if eta > 0 else {}
                r = sch.step(out, int(t), x, eta=eta, **kw)
                x0s.append(r.pred_original_sample.clone())
            else:
                r = sch.step(out, t, x)
            x = r.prev_sample
            traj.append(x.clone())
        w.add(f"{name}/timesteps", sch.timesteps.to(torch.int64))
        w.add(f"{name}/traj", torch.stack(traj))
        if x0s:
            w.add(f"{name}/pred_x0", torch.stack(x0s))
        w.meta["diffusers_runs"][name] = {"scheduler": kind, "config": cfg, "steps": steps, "eta": eta,
                                          "prediction": pred}

    # ---------------------------------------------------------------- timestep lists
    # diffusers set_timesteps and LVDM make_ddim_timesteps for many step counts (ints in JSON;
    # "error" where the reference fails or yields a timestep outside [0, T)).
    tl = {}
    for S in [1, 2, 3, 7, 10, 13, 20, 25, 30, 49, 50, 64, 100, 333]:
        for kind in ("ddim", "dpm"):
            for spacing in ("leading", "trailing", "linspace"):
                cls = DDIMScheduler if kind == "ddim" else DPMSolverMultistepScheduler
                try:
                    sch = cls(num_train_timesteps=1000, timestep_spacing=spacing, steps_offset=1 if spacing == "leading" else 0)
                    sch.set_timesteps(S)
                    ts = [int(v) for v in sch.timesteps]
                    if min(ts) < 0 or max(ts) >= 1000:
                        ts = "error"
                except Exception:
                    ts = "error"
                tl[f"{kind}/{spacing}/{S}"] = ts
        lv = [int(v) for v in lvdm_ddim_timesteps(S)]
        tl[f"ddim/lvdm/{S}"] = lv[::-1] if max(lv) < 1000 else "error"
    w.meta["timesteps"] = tl

    # ---------------------------------------------------------------- Latte (guided-diffusion)
    if args.latte_src:
        latte_runs(w, os.path.abspath(args.latte_src), x_T, bank)
    w.save(os.path.abspath(args.out))


if __name__ == "__main__":
    main()
