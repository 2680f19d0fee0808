#!/usr/bin/env python3
"""IFNet (RIFE 4.x) parity fixtures (tests/data/rife/) from the reference code, imported, never copied:

    source /tmp/latte-env.sh   # any Python with torch + safetensors
    .venv/bin/python tests/data/gen/gen_ifnet.py --vsrife-src /tmp/vsrife/vsrife --rife-src /tmp/prife

  --vsrife-src / VSRIFE_SRC: HolyWu/vs-rife@2a7f2c8 `vsrife/` (IFNet_HDv3_v4_*.py, ports of Practical-RIFE's
                             per-version train_log/IFNet_HDv3.py, which ship only inside the model archives)
  --rife-src / RIFE_SRC:     hzwer/Practical-RIFE@17d8c7a (model/warplayer.py, model/pytorch_msssim)

Writes
  ifnet_versions.safetensors  two frames (36x52 RGB in [0, 1], the second a shifted copy of the first plus
      noise) and, for one published version of each of the 17 distinct layouts, the interpolated frame
      (cropped to 36x52) at (scale 1, t 0.5) and (scale 0.5, t 0.3); for 4.26, 4.25.lite and 4.18 also
      (1, 0.3) and (0.5, 0.5). Every parameter is filled by det_fill (det_fill.py) under its name; the
      frames are zero-padded right/bottom to max(mod, mod / scale) (mod 32 / 64 / 128) as vs-rife does.
      Also a batch of the two t of scale 1 in one forward for 4.26.
      And `ssim`: ssim_matlab on the 32x32 thumbnails of 6 frame pairs made from the two frames.
  warp.safetensors            Practical-RIFE's warp() on a 3x37x45 input with a random flow.
  ifnet_mini.pkl / ifnet_mini_legacy.pkl / ifnet_mini_out.safetensors  a narrow 4.26-shaped IFNet (blocks of
      width 8; seeded random weights, values exact in fp16) as torch.save of {"module." + key: tensor} (zip
      format in fp32, legacy format in fp16), and its output on the frames (scale 1, t 0.4).
"""
import argparse
import importlib.util
import json
import math
import os
import sys
import types

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from det_fill import det_param  # noqa: E402
from rife_harness import mini_ifnet  # noqa: E402

# One published version per distinct layout (vs-rife's files, grouped by identical IFNet code).
VERSIONS = ["4.0", "4.2", "4.5", "4.6", "4.7", "4.10", "4.12.lite", "4.13", "4.14.lite", "4.15.lite", "4.20",
            "4.21", "4.22.lite", "4.25", "4.25.lite", "4.25.heavy", "4.26.heavy", "4.18", "4.26"]
FULL = {"4.26", "4.25.lite", "4.18"}
MOD = {"4.0": 64, "4.25": 64, "4.26": 64, "4.25.heavy": 64, "4.26.heavy": 64, "4.25.lite": 128}
H, W = 36, 52


def load_vsrife(src):
    pkg = types.ModuleType("vsrife")
    pkg.__path__ = [src]  # a namespace for the relative `.warplayer` import; __init__ (vapoursynth) not run
    sys.modules["vsrife"] = pkg
    return lambda v: importlib.import_module("vsrife.IFNet_HDv3_v" + v.replace(".", "_"))


def frames():
    g = torch.Generator().manual_seed(11)
    base = F.interpolate(torch.rand(1, 3, 9, 13, generator=g), size=(H, W), mode="bilinear", align_corners=False)
    base = base + 0.05 * torch.rand(1, 3, H, W, generator=g)
    img0 = base.clamp(0, 1)
    img1 = (torch.roll(base, shifts=(2, 3), dims=(2, 3)) + 0.03 * torch.rand(1, 3, H, W, generator=g)).clamp(0, 1)
    return img0.contiguous(), img1.contiguous()


def grid(ph, pw):
    div = torch.tensor([(pw - 1.0) / 2.0, (ph - 1.0) / 2.0], dtype=torch.float)
    hor = torch.linspace(-1.0, 1.0, pw).view(1, 1, 1, pw).expand(-1, -1, ph, -1)
    ver = torch.linspace(-1.0, 1.0, ph).view(1, 1, ph, 1).expand(-1, -1, -1, pw)
    return div, torch.cat([hor, ver], 1)


def run(net, img0, img1, t, scale, mod):
    tmp = max(mod, int(mod / scale))
    ph, pw = math.ceil(H / tmp) * tmp, math.ceil(W / tmp) * tmp
    pad = (0, pw - W, 0, ph - H)
    i0, i1 = F.pad(img0, pad), F.pad(img1, pad)
    n = i0.shape[0]
    ts = torch.as_tensor(t, dtype=torch.float).reshape(-1, 1, 1, 1).expand(n, 1, ph, pw).contiguous()
    div, g = grid(ph, pw)
    g = g.expand(n, -1, -1, -1)
    if hasattr(net, "encode"):
        out = net(i0, i1, ts, div, g, net.encode(i0), net.encode(i1))
    else:
        out = net(i0, i1, ts, div, g)
    return out[:, :, :H, :W].contiguous()


def det_fill(net):
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(det_param(name, tuple(p.shape)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vsrife-src", default=os.environ.get("VSRIFE_SRC"))
    ap.add_argument("--rife-src", default=os.environ.get("RIFE_SRC"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "rife"))
    a = ap.parse_args()
    if not a.vsrife_src or not a.rife_src:
        sys.exit("give --vsrife-src (vs-rife's vsrife/) and --rife-src (Practical-RIFE)")
    os.makedirs(a.out, exist_ok=True)
    mod_of = load_vsrife(a.vsrife_src)
    torch.set_grad_enabled(False)
    img0, img1 = frames()
    out = {"img0": img0, "img1": img1}
    meta = {"generator": "tests/data/gen/gen_ifnet.py", "torch": torch.__version__, "vsrife": "HolyWu/vs-rife@2a7f2c8"}
    cases = []
    for v in VERSIONS:
        m = mod_of(v)
        combos = [(1.0, 0.5), (0.5, 0.3)] + ([(1.0, 0.3), (0.5, 0.5)] if v in FULL else [])
        for scale, t in combos:
            net = m.IFNet(scale, False).eval()
            det_fill(net)
            # 4.0/4.1's large-motion restart: record whether block 1's update crossed 32 px both ways.
            seen = {}
            if v == "4.0":
                def hook(_m, _i, o):
                    f = o[0]
                    seen.setdefault("restart", bool(f[:, :2].abs().max() > 32 and f[:, 2:4].abs().max() > 32))
                net.block1.register_forward_hook(hook)
            key = f"out_v{v}_s{scale}_t{t}"
            out[key] = run(net, img0, img1, t, scale, MOD.get(v, 32))
            cases.append({"version": v, "scale": scale, "t": t, "key": key, **seen})
    # One batch of two timesteps (4.26, scale 1): equal to the two single runs.
    net = mod_of("4.26").IFNet(1.0, False).eval()
    det_fill(net)
    out["batch_t"] = torch.tensor([0.5, 0.3])
    out["out_batch"] = run(net, img0.expand(2, -1, -1, -1), img1.expand(2, -1, -1, -1), out["batch_t"], 1.0, 64)
    params = {v: sum(p.numel() for p in mod_of(v).IFNet(1.0, False).parameters()) for v in VERSIONS}
    meta.update(cases=json.dumps(cases), parameters=json.dumps(params))

    # warp (Practical-RIFE model/warplayer.py, imported from --rife-src).
    spec = importlib.util.spec_from_file_location("warplayer", os.path.join(a.rife_src, "model", "warplayer.py"))
    wl = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wl)
    g = torch.Generator().manual_seed(3)
    x = torch.rand(1, 3, 37, 45, generator=g)
    flow = (torch.rand(1, 2, 37, 45, generator=g) - 0.5) * 20
    save_file({"input": x, "flow": flow, "out": wl.warp(x, flow).contiguous()}, os.path.join(a.out, "warp.safetensors"),
              metadata={"generator": "tests/data/gen/gen_ifnet.py", "reference": "Practical-RIFE@17d8c7a model/warplayer.py"})

    # ssim_matlab on inference_video.py's thumbnails: F.interpolate(I, (32, 32), bilinear) of the padded frames
    # (padded here to 64x64). The pairs are made from img0 / img1 (the C++ test rebuilds them).
    sys.path.insert(0, a.rife_src)
    from model.pytorch_msssim import ssim_matlab  # noqa: E402
    pairs = [(img0, img0), (img0, img1), (img0, 1 - img0), (img0, torch.zeros_like(img0)),
             (img0, (img0 + 0.002).clamp(0, 1)), (img1, img0 * 0.5)]
    ssim = []
    for p0, p1 in pairs:
        s0 = F.interpolate(F.pad(p0, (0, 64 - W, 0, 64 - H)), (32, 32), mode="bilinear", align_corners=False)
        s1 = F.interpolate(F.pad(p1, (0, 64 - W, 0, 64 - H)), (32, 32), mode="bilinear", align_corners=False)
        ssim.append(float(ssim_matlab(s0, s1)))
    out["ssim"] = torch.tensor(ssim, dtype=torch.float64)
    save_file(out, os.path.join(a.out, "ifnet_versions.safetensors"), metadata=meta)

    # A narrow 4.26-shaped IFNet as the checkpoints users have: torch.save of a "module."-prefixed dict.
    m = mod_of("4.26")
    mini = mini_ifnet(m)
    torch.manual_seed(5)
    with torch.no_grad():
        for name, p in mini.named_parameters():
            p.copy_(torch.randn(p.shape) * (0.5 / math.sqrt(max(1, p[0].numel()))) if p.dim() > 1 else
                    1 + 0.1 * torch.randn(p.shape) if name.endswith("beta") else 0.1 * torch.randn(p.shape))
            p.copy_(p.half().float())  # values fp16 holds exactly: the fp16 legacy file has the same weights
    mini.eval()
    sd = {"module." + k: v for k, v in mini.state_dict().items()}
    torch.save(sd, os.path.join(a.out, "ifnet_mini.pkl"))
    torch.save({k: v.half() for k, v in sd.items()}, os.path.join(a.out, "ifnet_mini_legacy.pkl"),
               _use_new_zipfile_serialization=False)
    save_file({"out": run(mini, img0, img1, 0.4, 1.0, 64)}, os.path.join(a.out, "ifnet_mini_out.safetensors"),
              metadata={"generator": "tests/data/gen/gen_ifnet.py", "t": "0.4", "scale": "1"})
    print("wrote", a.out, "cases", len(cases), "params", params)


if __name__ == "__main__":
    main()
