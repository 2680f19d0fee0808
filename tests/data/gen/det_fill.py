"""The deterministic fill shared by the fixture generators (lvdm_unet3d.py, gen_latte.py, gen_long_video.py,
...) and mirrored in C++ (tests/parity.h test::det_param / det_fill): every value is a pure function of
(name, index), computed exactly in int64/float64, so a test can rebuild a model of any size without a
weights file.

  det_unit(name, n)       n values, mean 0, variance 1 (a 32-bit integer hash of FNV-1a(name) + i * 0x9E3779B1).
  det_param(name, shape)  >= 2-D: det_unit * 1/sqrt(fan_in), fan_in = numel / shape[0];
                          1-D "*.weight" (norm scale): det_unit * 0.1 + 1;  other 1-D (biases): det_unit * 0.1.
  det_fill(model, skip, prefix)
                          det_param(prefix + name, shape) into every named parameter except the names in skip
                          (prefix, default "", tells apart models with the same names, e.g. "pred." / "interp.").
"""
import math

import torch

M32 = 0xFFFFFFFF


def fnv1a32(s):
    h = 0x811C9DC5
    for b in s.encode():
        h ^= b
        h = (h * 0x01000193) & M32
    return h


def det_unit(name, n):
    """n values with mean 0 and variance 1, a pure function of (name, index); exact in int64/float64."""
    i = torch.arange(n, dtype=torch.int64)
    x = (i * 0x9E3779B1 + fnv1a32(name)) & M32
    x = x ^ (x >> 16)
    x = (x * 0x045D9F3B) & M32
    x = x ^ (x >> 16)
    x = (x * 0x045D9F3B) & M32
    x = x ^ (x >> 16)
    u = x.to(torch.float64) / 4294967296.0
    return (u - 0.5) * math.sqrt(12.0)


def det_param(name, shape):
    """The deterministic fill mirrored in tests/backbones/test_lvdm_unet3d.cpp (det_fill)."""
    n = 1
    for s in shape:
        n *= s
    r = det_unit(name, n)
    if len(shape) >= 2:
        fan_in = n // shape[0]
        v = r * (1.0 / math.sqrt(fan_in))
    elif name.endswith(".weight"):  # GroupNorm / LayerNorm scale
        v = r * 0.1 + 1.0
    else:  # biases
        v = r * 0.1
    return v.to(torch.float32).reshape(shape)


def det_fill(model, skip=(), prefix=""):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in skip:
                continue
            p.copy_(det_param(prefix + name, tuple(p.shape)))
