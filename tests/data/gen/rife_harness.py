"""Runs Practical-RIFE's inference_video.py unchanged on frames in memory, for the fixture generator
(gen_rife_video.py) and the benchmark (tools/bench/rife_reference.py). The script's I/O imports (cv2,
skvideo, tqdm) and its model (train_log/RIFE_HDv3.py) are replaced by in-memory shims; everything it
decides (duplicates, scene cuts, padding, frame order) is its own code.

  vsrife_ifnet(src, version)          vs-rife's IFNet_HDv3_v4_* module (vsrife/__init__ not run)
  mini_ifnet(m)                       the narrow 4.26-shaped IFNet of ifnet_mini.pkl
  run_inference_video(rife_src, video, net, multi)
                                      -> (frames written as uint8 RGB, seconds in the script's loop)
"""
import importlib
import os
import sys
import time
import types

import numpy as np
import torch


def vsrife_ifnet(src, version):
    pkg = types.ModuleType("vsrife")
    pkg.__path__ = [src]  # a namespace for the relative `.warplayer` import; __init__ (vapoursynth) not run
    sys.modules["vsrife"] = pkg
    return importlib.import_module("vsrife.IFNet_HDv3_v" + version.replace(".", "_"))


def mini_ifnet(m):
    """A narrow 4.26-shaped IFNet (every block of width 8) from vs-rife's 4.26 module `m`, on the CPU,
    its parameters uninitialised (ifnet_mini.pkl's network)."""
    with torch.device("meta"):
        net = m.IFNet(1.0, False)
    net.block0, net.block1, net.block2 = m.IFBlock(7 + 8, c=8), m.IFBlock(28, c=8), m.IFBlock(28, c=8)
    net.block3, net.block4, net.encode = m.IFBlock(28, c=8), m.IFBlock(28, c=8), m.Head()
    return net.to_empty(device="cpu")


def _model_class(net, version):
    has_enc = hasattr(net, "encode")
    grids = {}

    class Model:  # train_log/RIFE_HDv3.py's interface: inference() runs the whole IFNet (encoder too) per call
        def __init__(self):
            self.version = version

        def load_model(self, *_):
            pass

        def eval(self):
            pass

        def device(self):
            pass

        def inference(self, img0, img1, timestep=0.5, scale=1.0):
            assert scale == 1.0
            _, _, ph, pw = img0.shape
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

    return Model


def run_inference_video(rife_src, video, net, multi, version=4.26, keep_frames=True):
    """video: uint8 [T, H, W, 3]. Returns (list of written frames or their count, seconds)."""
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
            written.append(np.ascontiguousarray(bgr[:, :, ::-1]) if keep_frames else 1)

        def release(self):
            pass

    class Bar:
        def __init__(self, **_k):
            pass

        def update(self, _n):
            pass

        def close(self):
            pass

    cv2.VideoCapture, cv2.VideoWriter = Capture, Writer
    cv2.VideoWriter_fourcc = lambda *c: 0
    skvideo = types.ModuleType("skvideo")
    skvideo.io = types.ModuleType("skvideo.io")
    skvideo.io.vreader = lambda _p: iter([f.copy() for f in video])
    tqdm = types.ModuleType("tqdm")
    tqdm.tqdm = Bar
    rife_hd = types.ModuleType("train_log.RIFE_HDv3")
    rife_hd.Model = _model_class(net, version)
    sys.modules.update({"cv2": cv2, "skvideo": skvideo, "skvideo.io": skvideo.io, "tqdm": tqdm,
                        "train_log": types.ModuleType("train_log"), "train_log.RIFE_HDv3": rife_hd})
    sys.path.insert(0, rife_src)
    script = os.path.join(rife_src, "inference_video.py")
    # --fps: no audio step (the script would call ffmpeg / moviepy otherwise).
    sys.argv = [script, "--video", "in.mp4", "--output", "out.mp4", "--multi", str(multi), "--fps", "24"]
    t0 = time.perf_counter()
    exec(compile(open(script).read(), script, "exec"), {"__name__": "__main__"})
    seconds = time.perf_counter() - t0
    time.sleep(0.5)  # the writer thread's last item
    return written, seconds
