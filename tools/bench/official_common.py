"""Helpers shared by tools/bench/official_lvdm.py's subcommands: torch set-up, importing and loading
the OFFICIAL LVDM code (from --lvdm-src; never copied here), latent shapes, the DDIM step timer, the
run modes (eager / compile / autocast, CPU or CUDA) and the machine description."""
import math
import os
import resource
import sys
import time


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def setup_torch(threads):
    import torch
    if threads and threads > 0:
        torch.set_num_threads(threads)
    return torch


def sync(device):
    """Waits for the GPU's queued kernels, so that a timer around them measures them."""
    if str(device).startswith("cuda"):
        import torch
        torch.cuda.synchronize(device)


def import_official(device="cpu"):
    """The official modules the subcommands call; nothing is stubbed."""
    import warnings
    warnings.filterwarnings("ignore", category=FutureWarning)
    from omegaconf import OmegaConf
    from lvdm.utils.common_utils import instantiate_from_config
    import lvdm.samplers.ddim as ddim
    import lvdm.models.ddpm3d as ddpm3d
    # DDIMSampler.register_buffer moves every schedule buffer to CUDA (the official code is
    # GPU-only); on the CPU keep them where they are (same values). On a GPU: the official method.
    if not str(device).startswith("cuda"):
        ddim.DDIMSampler.register_buffer = lambda self, name, attr: setattr(self, name, attr)
    return OmegaConf, instantiate_from_config, ddim, ddpm3d


def load_config(path):
    from omegaconf import OmegaConf
    cfg = OmegaConf.load(path)
    fs = cfg.model.params.get("first_stage_config")
    if fs is not None and "params" in fs and "ckpt_path" in fs.params:
        # sky.yaml: ckpt_path: ${ckpt_path}; the official shell scripts pass the AE checkpoint on
        # the command line. Our checkpoints hold first_stage_model.*, which load_state_dict loads.
        fs.params.ckpt_path = None
    return cfg


def load_timed(a):
    """load_config + load_model, timed; prints timeit's --mark line (like longvid's 'loaded ...').
    --device cuda: then model.cuda(), as the official scripts/sample_utils.py load_model does."""
    t0 = time.perf_counter()
    config = load_config(a.config)
    model = load_model(config, a.ckpt)
    device = getattr(a, "device", "cpu")  # (decode has no --device: the CPU)
    if device != "cpu":
        model = model.to(device)
        sync(device)
    t_load = time.perf_counter() - t0
    print("official: model loaded", flush=True)
    return config, model, t_load


def load_model(config, ckpt):
    """scripts/sample_utils.py load_model() without its .cuda() (load_timed moves the model for --device cuda)."""
    import torch
    from lvdm.utils.common_utils import instantiate_from_config
    pl_sd = torch.load(ckpt, map_location="cpu")
    try:
        sd = pl_sd["state_dict"]
    except Exception:
        sd = pl_sd
    model = instantiate_from_config(config.model)
    model.load_state_dict(sd, strict=True)
    model.eval()
    return model


def is_masked(model):
    from lvdm.models.ddpm3d import FrameInterpPredLatentDiffusion
    return isinstance(model, FrameInterpPredLatentDiffusion) and getattr(model, "concat_mask_on_input", True)


def latent_shape(model, config, frames=None):
    """[1, C, T, h, w] as the official scripts build it: C = in_channels (minus the mask channel
    for frame-mask models, as sample_long_videos_utils), T = frames / the AE's temporal factor
    (default: the U-Net's temporal_length, what sample_uncond.py uses without --num_frames)."""
    um = model.model.diffusion_model
    image_size = model.image_size
    image_size = [image_size, image_size] if isinstance(image_size, int) else list(image_size)
    C = um.in_channels - 1 if is_masked(model) else um.in_channels
    if frames:
        ft = int(config.model.params.first_stage_config.params.ddconfig.encoder.params.downsample[0])
        if frames % ft:
            sys.exit(f"--frames {frames}: not a multiple of the autoencoder's temporal factor {ft}")
        T = frames // ft
    else:
        T = um.temporal_length
    return [1, C, T, *image_size]


class StepTimer:
    """Wraps DDIMSampler.p_sample_ddim (the official method, called unchanged) to time each step
    (on a GPU: synchronised before and after)."""

    def __init__(self, ddim_mod, device="cpu"):
        self.times = []
        orig = ddim_mod.DDIMSampler.p_sample_ddim
        timer = self

        def timed(self_, *a, **k):
            sync(device)
            t0 = time.perf_counter()
            out = orig(self_, *a, **k)
            sync(device)
            timer.times.append(time.perf_counter() - t0)
            return out

        ddim_mod.DDIMSampler.p_sample_ddim = timed


def attention_in_longvid_order():
    """DIAGNOSTIC ONLY (sample --attention longvid-order; never used for timings): the official
    QKVAttention.forward computed in longvid's operation order (backbones/lvdm_unet3d_blocks.cpp
    qkv_attention: scaled_dot_product_attention without relative positions, bmm layouts with
    them) instead of the official einsums. Same math; it shows whether the remaining frame
    differences come from the attention kernels' float rounding alone."""
    import torch
    import torch.nn.functional as F
    import lvdm.models.modules.attention_temporal as at

    def forward(self, qkv, rp=None, mask=None):
        bs, width, length = qkv.shape
        H = self.n_heads
        ch = width // (3 * H)
        q, k, v = qkv.chunk(3, dim=1)
        if rp is None and mask is None:
            def heads(t):
                t = t.view(bs, H, ch, length).transpose(2, 3)
                return t if t.stride(-1) == 1 else t.contiguous()
            a = F.scaled_dot_product_attention(heads(q), heads(k), heads(v))
            return a.transpose(2, 3).reshape(bs, -1, length)
        if mask is not None:
            raise NotImplementedError("longvid-order attention: masked attention")
        scale = 1.0 / math.sqrt(math.sqrt(ch))
        qq = (q * scale).view(bs * H, ch, length)
        kk = (k * scale).view(bs * H, ch, length)
        w = torch.bmm(qq.transpose(1, 2), kk)
        k_rp, v_rp = rp
        w = w + torch.bmm(qq.permute(2, 0, 1), k_rp.transpose(1, 2)).permute(1, 2, 0)
        w = F.softmax(w.float(), -1).type(w.dtype)
        a = torch.bmm(v.reshape(bs * H, ch, length), w.transpose(1, 2))
        a = a + torch.bmm(w.permute(1, 0, 2), v_rp).permute(1, 2, 0)
        return a.reshape(bs, -1, length)

    at.QKVAttention.forward = forward


def apply_mode(model, mode, device="cpu"):
    """eager: as is; compile: torch.compile on the U-Net (compiled at the first call, which the
    first step's time includes); autocast: bf16 autocast around the networks (decode stays fp32)."""
    import contextlib
    import torch
    if mode == "compile":
        model.model.diffusion_model = torch.compile(model.model.diffusion_model)
    if mode == "autocast":
        return lambda: torch.autocast("cuda" if str(device).startswith("cuda") else "cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext


def machine_info():
    import platform
    import torch
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "nproc": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")}
