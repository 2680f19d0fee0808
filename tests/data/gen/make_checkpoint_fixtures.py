#!/usr/bin/env python3
"""Generates the checkpoint fixtures in tests/data/ckpt/ with PyPI torch + safetensors.

Run:  /work/refvenv/bin/python tests/data/gen/make_checkpoint_fixtures.py
CI never runs this; the tests only read the committed outputs. Every fixture `X` that loads has an
`X.expected.json` listing written here (format, chosen sub-dict, layout, top-level structure, and
per tensor: name, dtype, shape, float64 sum and index-weighted sum).

The malicious pickles are written as raw opcode bytes and are NEVER unpickled here.
"""
import argparse
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ckpt")
os.makedirs(OUT, exist_ok=True)
g = torch.Generator().manual_seed(1234)


def rnd(*shape, dtype=torch.float32):
    return torch.randn(*shape, generator=g).to(dtype)


def checksums(t):
    d = t.detach().to(torch.float64).flatten()
    w = torch.arange(d.numel(), dtype=torch.float64)
    return float(d.sum()), float((d * w).sum())


def structure_entry(name, v):
    e = {"name": name}
    if isinstance(v, torch.Tensor):
        e["type"] = "tensor"
    elif isinstance(v, bool):
        e["type"], e["value"] = "bool", v
    elif isinstance(v, int):
        e["type"], e["value"] = "int", v
    elif isinstance(v, float):
        e["type"], e["value"] = "float", v
    elif isinstance(v, str):
        e["type"], e["value"] = "str", v
    elif isinstance(v, torch.dtype):
        e["type"], e["value"] = "global", str(v)
    elif isinstance(v, (set, frozenset)):
        e["type"], e["entries"] = "set", len(v)
    elif isinstance(v, bytes):
        e["type"] = "bytes"
    elif type(v) in (dict, collections.OrderedDict):
        e["type"] = "dict"
        e["entries"] = len(v)
        e["tensors"] = sum(isinstance(x, torch.Tensor) for x in v.values())
    elif isinstance(v, list):
        e["type"], e["entries"] = "list", len(v)
    elif isinstance(v, tuple):
        e["type"], e["entries"] = "tuple", len(v)
    elif v is None:
        e["type"] = "none"
    else:
        e["type"] = "object"
        e["value"] = type(v).__module__ + "." + type(v).__qualname__
        if isinstance(v, dict):
            e["entries"] = len(v)
    return e


def expected(path, obj, fmt, source, layout, sd):
    listing = {
        "format": fmt,
        "source": source,
        "layout": layout,
        "num_tensors": len(sd),
        "num_parameters": int(sum(t.numel() for t in sd.values())),
        "tensors": [],
    }
    if isinstance(obj, dict) and fmt != "safetensors":
        listing["structure"] = [structure_entry(k, v) for k, v in obj.items()]
    for k, t in sd.items():
        s, ws = checksums(t)
        listing["tensors"].append({"name": k, "dtype": str(t.dtype).replace("torch.", ""),
                                   "shape": list(t.shape), "sum": s, "wsum": ws})
    with open(path + ".expected.json", "w") as f:
        json.dump(listing, f, indent=1)
        f.write("\n")


def tensors_of(d):
    return collections.OrderedDict((k, v) for k, v in d.items() if isinstance(v, torch.Tensor))


# ---- 1. LVDM-style .ckpt (torch zip) -------------------------------------------------------------
def lvdm_ckpt():
    sd = collections.OrderedDict()
    sd["betas"] = torch.linspace(0.0015 ** 0.5, 0.0155 ** 0.5, 10, dtype=torch.float64).pow(2).float()
    sd["alphas_cumprod"] = torch.cumprod(1 - sd["betas"], 0)
    sd["model.diffusion_model.input_blocks.0.0.weight"] = rnd(4, 3, 1, 3, 3)
    sd["model.diffusion_model.input_blocks.0.0.bias"] = rnd(4)
    sd["model.diffusion_model.time_embed.0.weight"] = rnd(8, 4)
    # SamePadConv3d: self.weight = self.conv.weight -> the same tensor under two names.
    w = rnd(2, 3, 3, 3, 3)
    b = rnd(2)
    sd["first_stage_model.encoder.conv_first.conv.weight"] = w
    sd["first_stage_model.encoder.conv_first.conv.bias"] = b
    sd["first_stage_model.encoder.conv_first.weight"] = w
    sd["first_stage_model.encoder.conv_first.bias"] = b
    sd["first_stage_model.quant_conv.conv.weight"] = rnd(2, 2, 1, 1, 1)
    sd["first_stage_model.decoder.conv_blocks.0.up.convt.weight"] = rnd(2, 2, 4, 4, 4).half()
    sd["model_ema.decay"] = torch.tensor(0.9999)
    sd["model_ema.num_updates"] = torch.tensor(1234, dtype=torch.int32)
    sd["model_ema.diffusion_modelinput_blocks00weight"] = sd["model.diffusion_model.input_blocks.0.0.weight"] * 0.5
    sd["model_ema.diffusion_modelinput_blocks00bias"] = sd["model.diffusion_model.input_blocks.0.0.bias"] * 0.5
    ckpt = {
        "epoch": 3,
        "global_step": 1234,
        "pytorch-lightning_version": "1.4.2",
        "state_dict": sd,
        "callbacks": {"ModelCheckpoint": {"best_model_score": torch.tensor(0.25), "best_model_path": "x.ckpt"}},
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": [0, 1]}]}],
        "lr_schedulers": [],
        "hparams_name": "args",
        "hyper_parameters": argparse.Namespace(lr=1e-4, dataset="sky", frames=16),
    }
    path = os.path.join(OUT, "lvdm_tiny.ckpt")
    torch.save(ckpt, path)
    expected(path, ckpt, "torch-zip", "state_dict", "lvdm-short", tensors_of(sd))
    # The same archive re-packed as zip64 (zip64 end records and extra fields everywhere).
    zipfile.ZIP64_LIMIT, saved = 0, zipfile.ZIP64_LIMIT
    path64 = os.path.join(OUT, "lvdm_tiny_zip64.ckpt")
    with zipfile.ZipFile(path, "r") as src, zipfile.ZipFile(path64, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    zipfile.ZIP64_LIMIT = saved
    expected(path64, ckpt, "torch-zip", "state_dict", "lvdm-short", tensors_of(sd))
    # Check that torch itself reads the re-packed file.
    back = torch.load(path64, weights_only=False)
    assert torch.equal(back["state_dict"]["first_stage_model.encoder.conv_first.weight"], w)
    return path


# ---- 2. Latte-style .pt {"ema", "model", "opt"} -----------------------------------------------------
def latte_pt():
    def weights(scale, dtype):
        d = collections.OrderedDict()
        d["pos_embed"] = rnd(1, 4, 8)
        d["temp_embed"] = rnd(1, 3, 8)
        d["x_embedder.proj.weight"] = rnd(8, 4, 2, 2) * scale
        d["x_embedder.proj.bias"] = rnd(8) * scale
        d["t_embedder.mlp.0.weight"] = rnd(8, 6) * scale
        d["y_embedder.embedding_table.weight"] = rnd(3, 8) * scale
        for i in range(2):
            d[f"blocks.{i}.attn.qkv.weight"] = rnd(24, 8) * scale
            d[f"blocks.{i}.adaLN_modulation.1.weight"] = rnd(48, 8) * scale
        d["final_layer.linear.weight"] = rnd(32, 8) * scale
        return collections.OrderedDict((k, v.to(dtype)) for k, v in d.items())

    ema = weights(1.0, torch.float32)
    model = weights(2.0, torch.bfloat16)
    opt = {"state": {0: {"step": torch.tensor(10.0), "exp_avg": rnd(8, 4, 2, 2)}}, "param_groups": [{"lr": 1e-4, "params": [0]}]}
    ckpt = {"model": model, "ema": ema, "opt": opt, "args": argparse.Namespace(model="Latte-XL/2", num_frames=16)}
    path = os.path.join(OUT, "latte_tiny.pt")
    torch.save(ckpt, path)
    expected(path, ckpt, "torch-zip", "ema", "latte", tensors_of(ema))
    # And the "model" sub-dict picked explicitly.
    expected(path + ".model", ckpt, "torch-zip", "model", "latte", tensors_of(model))


# ---- 3. views sharing storage, many dtypes (root dict of tensors) ------------------------------------
def views_pt():
    base = torch.arange(60, dtype=torch.float32).reshape(6, 10) / 7
    d = collections.OrderedDict()
    d["base"] = base
    d["transposed"] = base.t()
    d["slice"] = base[2:5, 3:7]
    d["strided"] = base[:, ::3]
    d["row"] = base[4]
    d["element"] = base[1, 2]
    d["int64"] = torch.arange(-5, 7, dtype=torch.int64).reshape(3, 4)
    d["int64_tail"] = d["int64"].flatten()[5:]
    d["bf16"] = rnd(3, 5, dtype=torch.bfloat16)
    d["fp16"] = rnd(7, dtype=torch.float16)
    d["fp64"] = rnd(2, 2, dtype=torch.float64)
    d["int32"] = torch.tensor([1, -2, 3], dtype=torch.int32)
    d["uint8"] = torch.tensor([0, 200, 255], dtype=torch.uint8)
    d["bool"] = torch.tensor([True, False, True])
    d["empty"] = torch.zeros(0, 3)
    d["param"] = torch.nn.Parameter(rnd(2, 3))
    path = os.path.join(OUT, "views.pt")
    torch.save(d, path)
    expected(path, d, "torch-zip", "root", "unknown", tensors_of(d))
    # The same dict in the legacy (pre-1.6) format.
    lpath = os.path.join(OUT, "views_legacy.pt")
    torch.save(d, lpath, _use_new_zipfile_serialization=False)
    expected(lpath, d, "torch-legacy", "root", "unknown", tensors_of(d))


# ---- 3b. a real nn.Module state_dict (OrderedDict with _metadata -> BUILD), protocol-2 odds and ends
def module_state_ckpt():
    # A dict subclass from a (stand-in) Lightning module: pickled as NEWOBJ + SETITEMS.
    mod = type(sys)("pytorch_lightning.utilities.parsing")
    for name in ("pytorch_lightning", "pytorch_lightning.utilities", "pytorch_lightning.utilities.parsing"):
        sys.modules.setdefault(name, type(sys)(name))
    AttributeDict = type("AttributeDict", (dict,), {"__module__": "pytorch_lightning.utilities.parsing"})
    sys.modules["pytorch_lightning.utilities.parsing"].AttributeDict = AttributeDict
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(rnd(*p.shape))
    sd = net.state_dict()
    assert hasattr(sd, "_metadata")
    ckpt = {"state_dict": sd, "hyper_parameters": AttributeDict(lr=0.1, name="x"), "dtype": torch.float16,
            "device": torch.device("cpu"), "tags": {1, 2}, "blob": b"xy", "size": torch.Size([2, 3])}
    path = os.path.join(OUT, "module_state.ckpt")
    torch.save(ckpt, path)
    expected(path, ckpt, "torch-zip", "state_dict", "unknown", tensors_of(sd))


# ---- 4. safetensors ------------------------------------------------------------------------------------
def safetensors_fixture():
    d = collections.OrderedDict()
    d["encoder.conv_in.weight"] = rnd(4, 3, 3, 3, dtype=torch.bfloat16)
    d["encoder.conv_in.bias"] = rnd(4, dtype=torch.float16)
    d["decoder.conv_out.weight"] = rnd(3, 4, 3, 3)
    d["quant_conv.weight"] = rnd(2, 2, 1, 1)
    d["post_quant_conv.weight"] = rnd(2, 2, 1, 1)
    d["steps"] = torch.tensor([1, 2, 3, 1 << 40], dtype=torch.int64)
    d["scale"] = torch.tensor(0.18215, dtype=torch.float64)
    d["mask"] = torch.tensor([True, False])
    d["bytes"] = torch.tensor([1, 2, 250], dtype=torch.uint8)
    d["int8"] = torch.tensor([-128, 0, 127], dtype=torch.int8)
    d["int16"] = torch.tensor([-300, 300], dtype=torch.int16)
    d["int32"] = torch.tensor([-70000, 70000], dtype=torch.int32)
    d["nothing"] = torch.zeros(0, 2)
    meta = {"format": "pt", "note": "longvid fixture", "config": json.dumps({"ch": 4})}
    path = os.path.join(OUT, "mixed.safetensors")
    save_file(d, path, metadata=meta)
    listing_sd = collections.OrderedDict(d)
    expected(path, None, "safetensors", "root", "sd-autoencoder-kl", listing_sd)
    with open(path + ".expected.json") as f:
        e = json.load(f)
    e["metadata"] = meta
    with open(path + ".expected.json", "w") as f:
        json.dump(e, f, indent=1)
        f.write("\n")


# ---- 5. damaged and malicious inputs ---------------------------------------------------------------------
def torch_zip(path, pkl, records=None):
    """A torch.save-like archive around hand-written pickle bytes (never unpickled here)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", "little")
        for name, data in (records or {}).items():
            z.writestr("archive/" + name, data)
        z.writestr("archive/version", "3\n")


def bad_inputs(lvdm_path):
    # A real archive with one data record left out, and one with a record cut short.
    with zipfile.ZipFile(lvdm_path) as src:
        names = [i.filename for i in src.infolist()]
        data_recs = sorted(n for n in names if "/data/" in n)
        victim = data_recs[1]
        with zipfile.ZipFile(os.path.join(OUT, "bad_missing_record.ckpt"), "w", zipfile.ZIP_STORED) as dst:
            for n in names:
                if n != victim:
                    dst.writestr(n, src.read(n))
        with zipfile.ZipFile(os.path.join(OUT, "bad_short_record.ckpt"), "w", zipfile.ZIP_STORED) as dst:
            for n in names:
                blob = src.read(n)
                dst.writestr(n, blob[: len(blob) // 2] if n == victim else blob)
        with zipfile.ZipFile(os.path.join(OUT, "bad_compressed.ckpt"), "w", zipfile.ZIP_DEFLATED) as dst:
            for n in names:
                dst.writestr(n, src.read(n))
    with open(lvdm_path, "rb") as f:
        blob = f.read()
    with open(os.path.join(OUT, "bad_truncated.ckpt"), "wb") as f:
        f.write(blob[: len(blob) * 2 // 3])

    def su(s):  # SHORT_BINUNICODE
        b = s.encode()
        return b"\x8c" + bytes([len(b)]) + b

    # os.system('touch <marker>') via GLOBAL + REDUCE (what a class with __reduce__ produces).
    cmd = "touch /tmp/longvid_pwned_os_system"
    os_system = (b"\x80\x02" + b"cos\nsystem\n" + b"X" + struct.pack("<I", len(cmd)) + cmd.encode() +
                 b"\x85" + b"R" + b".")
    torch_zip(os.path.join(OUT, "evil_os_system.pt"), os_system)
    # builtins.eval("open('<marker>', 'w')") inside a state-dict-looking dict, protocol 4 STACK_GLOBAL.
    code = "open('/tmp/longvid_pwned_eval', 'w')"
    evil_eval = (b"\x80\x04" + b"}" + su("state_dict") + su("builtins") + su("eval") + b"\x93" +
                 su(code) + b"\x85" + b"R" + b"s" + b".")
    torch_zip(os.path.join(OUT, "evil_eval.pt"), evil_eval)
    # A REDUCE on an innocent-looking but unknown callable.
    evil_reduce = b"\x80\x02" + b"}" + su("x") + b"cmypackage.helpers\nmake_thing\n" + b")" + b"R" + b"s" + b"."
    torch_zip(os.path.join(OUT, "evil_reduce.pt"), evil_reduce)
    # subprocess.Popen via INST (protocol 0).
    evil_inst = b"(S'touch /tmp/longvid_pwned_inst'\nisubprocess\nPopen\n."
    torch_zip(os.path.join(OUT, "evil_inst.pt"), evil_inst)


if __name__ == "__main__":
    p = lvdm_ckpt()
    latte_pt()
    views_pt()
    module_state_ckpt()
    safetensors_fixture()
    bad_inputs(p)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, into {os.path.normpath(OUT)}")
