"""Parity fixture for vae3d/frame_autoencoder_kl (diffusers AutoencoderKL, per frame).

Small config: block_out_channels (32, 64), layers_per_block 1, norm_num_groups 32, latent 4,
sample 32x32. The weights are not stored: every tensor is filled by a formula that the C++ test
reproduces (see deterministic_weights), so the fixture holds only inputs and outputs (< 100 KB).
The C++ test writes those weights to safetensors under the diffusers names and loads them
through the checkpoint loader.

    /work/refvenv/bin/python tests/data/gen/gen_frame_autoencoder_kl.py  (needs torch, diffusers)
"""
import json
import math
import os

import numpy as np
import torch
from diffusers import AutoencoderKL
from safetensors.torch import save_file

CONFIG = dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
              up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(32, 64), layers_per_block=1,
              latent_channels=4, norm_num_groups=32, sample_size=32)


def deterministic_weights(sd):
    """Tensor j of the sorted names, element i: sin(0.7 i + 0.3 j + 0.1) scaled (float64 -> float32)."""
    out = {}
    for j, name in enumerate(sorted(sd)):
        shape = sd[name].shape
        n = int(np.prod(shape))
        s = np.sin(0.7 * np.arange(n, dtype=np.float64) + 0.3 * j + 0.1)
        if len(shape) >= 2:
            v = s / math.sqrt(n / shape[0])
        elif "norm" in name and name.endswith(".weight"):
            v = 1.0 + 0.1 * s
        else:
            v = 0.1 * s
        out[name] = torch.from_numpy(v.astype(np.float32)).reshape(shape)
    return out


def main():
    torch.manual_seed(0)
    m = AutoencoderKL(**CONFIG).eval()
    m.load_state_dict(deterministic_weights(m.state_dict()))
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    z = torch.randn(2, 4, 16, 16, generator=g)
    with torch.no_grad():
        post = m.encode(x).latent_dist
        dec = m.decode(z).sample
    out = dict(input=x, mean=post.mean, logvar=post.logvar, latent=z, decoded=dec)
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "vae3d", "frame_ae_kl_tiny.io.safetensors")
    save_file({k: v.contiguous() for k, v in out.items()}, path,
              metadata={"config": json.dumps(dict(CONFIG)), "generator": "tests/data/gen/gen_frame_autoencoder_kl.py"})
    print(path, {k: tuple(v.shape) for k, v in out.items()})


if __name__ == "__main__":
    main()
