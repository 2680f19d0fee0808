#!/usr/bin/env python3
"""End-to-end fixture for `longvid fvd` with a TorchScript detector (tests/eval/test_fvd_cli.cpp).

Writes to OUT_DIR (tests/data/eval):
  tiny_detector_ts.pt   a small random-weight TorchScript network with the call signature of
                        StyleGAN-V's i3d_torchscript.pt: forward(x uint8 [B, 3, T, H, W],
                        rescale: bool, resize: bool, return_features: bool) -> [B, 8]. It is NOT
                        I3D: its own rescale ([0, 255] -> [-1, 1]) and resize (trilinear to 16²)
                        stand in for the real detector's internal preprocessing.
  e2e_real.npy, e2e_fake.npy   uint8 [24, 16, 12, 12, 3] clips (the fake set with a brightness shift).
  fvd_e2e_reference.safetensors  FVD (stylegan-v numerics) and KVD of the two sets, computed as
                        StyleGAN-V's metric code does: clips permuted to [B, C, T, H, W] and passed
                        with rescale=True, resize=True, return_features=True; float64 feature sums,
                        covariance raw/N - mu muᵀ; trace of scipy.linalg.sqrtm(sigma_gen @ sigma_real);
                        KVD = unbiased MMD² (polynomial kernel, sklearn) on all clips.
Usage: python gen_fvd_e2e.py OUT_DIR
"""
import os
import sys

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file
from sklearn.metrics.pairwise import polynomial_kernel


class TinyVideoDetector(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 6, kernel_size=3, stride=(1, 2, 2), padding=1)
        self.fc = torch.nn.Linear(12, 8)

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = False) -> torch.Tensor:
        h = x.float()
        if rescale:
            h = h / 127.5 - 1.0
        if resize:
            h = F.interpolate(h, size=(h.shape[2], 16, 16), mode="trilinear", align_corners=False)
        h = torch.relu(self.conv(h))
        h = torch.cat([h.mean(dim=(2, 3, 4)), h.amax(dim=(2, 3, 4))], dim=1)
        f = self.fc(h)
        if return_features:
            return f
        return torch.softmax(f, dim=1)


def clips(seed, n, shift):
    g = np.random.default_rng(seed)
    base = g.integers(0, 200, size=(n, 1, 12, 12, 3))
    motion = np.arange(16).reshape(1, 16, 1, 1, 1) * g.integers(1, 4, size=(n, 1, 1, 1, 1))
    noise = g.integers(0, 30, size=(n, 16, 12, 12, 3))
    return np.clip(base + motion + noise + shift, 0, 255).astype(np.uint8)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    net = TinyVideoDetector().eval()
    with torch.no_grad():
        net.fc.weight.mul_(5.0)
    det = torch.jit.script(net)
    path = os.path.join(out, "tiny_detector_ts.pt")
    det.save(path)
    det = torch.jit.load(path)

    real, fake = clips(1, 24, 0), clips(2, 24, 60)
    np.save(os.path.join(out, "e2e_real.npy"), real)
    np.save(os.path.join(out, "e2e_fake.npy"), fake)

    def features(v):
        x = torch.from_numpy(v).permute(0, 4, 1, 2, 3).contiguous()  # [B, T, H, W, C] -> [B, C, T, H, W]
        with torch.no_grad():
            feats = [det(x[i:i + 5], rescale=True, resize=True, return_features=True) for i in range(0, len(x), 5)]
        return torch.cat(feats).numpy().astype(np.float64)

    fr, ff = features(real), features(fake)

    def mean_cov(f):
        mu = f.sum(0) / len(f)
        return mu, f.T @ f / len(f) - np.outer(mu, mu)

    mr, sr = mean_cov(fr)
    mg, sg = mean_cov(ff)
    s = scipy.linalg.sqrtm(sg @ sr)
    fvd = float(np.real(np.square(mg - mr).sum() + np.trace(sg + sr - s * 2)))
    d, m = fr.shape[1], len(fr)
    k = lambda a, b: polynomial_kernel(a, b, degree=3, gamma=1.0 / d, coef0=1)
    kxx, kyy, kxy = k(ff, ff), k(fr, fr), k(ff, fr)
    kvd = float(((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.sum() / m**2)
    save_file({"fvd": np.array([fvd]), "kvd": np.array([kvd]), "real_features": fr, "fake_features": ff},
              os.path.join(out, "fvd_e2e_reference.safetensors"),
              metadata={"torch": torch.__version__, "scipy": scipy.__version__})
    print("fvd", fvd, "kvd", kvd)


if __name__ == "__main__":
    main()
