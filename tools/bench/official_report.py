#!/usr/bin/env python3
"""The reporting half of tools/bench/official_lvdm.py (no official code needed): the compare, timeit and
summarize subcommands, imported by official_lvdm.py's main(). See that file's docstring."""
import json
import math
import os
import re
import resource
import subprocess
import sys
import time


def write_json(path, obj):
    if not path:
        print(json.dumps(obj, indent=1))
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)

# ---------------------------------------------------------------------------------------------
# compare / timeit (no official code needed)
def read_png_dir(d):
    import numpy as np
    from PIL import Image
    names = sorted(n for n in os.listdir(d) if n.lower().endswith(".png"))
    if not names:
        sys.exit(f"{d}: no PNG frames")
    return np.stack([np.asarray(Image.open(os.path.join(d, n)).convert("RGB")) for n in names])


def cmd_compare(a):
    import numpy as np
    ref = np.load(a.official)
    other = read_png_dir(a.longvid) if os.path.isdir(a.longvid) else np.load(a.longvid)
    res = {"official": a.official, "longvid": a.longvid, "official_shape": list(ref.shape),
           "longvid_shape": list(other.shape)}
    if ref.shape != other.shape:
        res.update(identical=False, verdict=f"shape {list(ref.shape)} vs {list(other.shape)}")
    else:
        d = np.abs(ref.astype(np.int16) - other.astype(np.int16))
        mse = float((d.astype(np.float64) ** 2).mean())
        res.update(identical=bool(d.max() == 0), max_abs=int(d.max()), mean_abs=float(d.mean()),
                   values_differing=int((d > 0).sum()), values=int(d.size),
                   psnr_db=(float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)),
                   saturated_fraction=float(((ref == 0) | (ref == 255)).mean()))
        res["verdict"] = "IDENTICAL" if res["identical"] else \
            f"max {res['max_abs']}, {res['values_differing']} values differ, PSNR {res['psnr_db']:.1f} dB"
    write_json(a.json, res)
    print(res["verdict"])


def cmd_timeit(a):
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        sys.exit("timeit: no command given")
    mark = re.compile(a.mark) if a.mark else None
    log = open(a.log, "w") if a.log else None
    t0 = time.perf_counter()
    t_mark = None
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for raw in p.stdout:
        now = time.perf_counter() - t0
        line = raw.decode("utf-8", "replace").rstrip("\n")
        if log:
            log.write(f"{now:10.3f} {line}\n")
            log.flush()
        if mark and t_mark is None and mark.search(line):
            t_mark = now
    rc = p.wait()
    wall = time.perf_counter() - t0
    if log:
        log.close()
    res = {"cmd": cmd, "rc": rc, "wall_s": wall, "mark": a.mark, "mark_s": t_mark,
           "after_mark_s": (wall - t_mark) if t_mark is not None else None,
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0}
    write_json(a.json, res)
    sys.exit(rc)


def _load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _best(d, prefix, key, suffix=".json"):
    """min over the repeats prefix.1.json, prefix.2.json, ... of key (None when absent)."""
    vals, i = [], 1
    while True:
        j = _load(os.path.join(d, f"{prefix}.{i}{suffix}"))
        if j is None:
            break
        if j.get(key) is not None:
            vals.append(j[key])
        i += 1
    return min(vals) if vals else None


def _best_steady(d):
    """Official mean DDIM step over steps 2..N (the first holds warm-up / torch.compile), best repeat."""
    vals, i = [], 1
    while True:
        j = _load(os.path.join(d, f"official.{i}.json"))
        if j is None:
            break
        st = j.get("step_s") or []
        if st:
            rest = st[1:] if len(st) > 1 else st
            vals.append(sum(rest) / len(rest))
        i += 1
    return min(vals) if vals else None


def _bench_denoiser(d):
    vals, i = [], 1
    while True:
        j = _load(os.path.join(d, f"longvid_bench.{i}.json"))
        if j is None:
            break
        for r in j.get("rows", []):
            if r.get("name") == "denoiser" and r.get("min_s") is not None:
                vals.append(r["min_s"])
        i += 1
    return min(vals) if vals else None


def _longvid_phases(d):
    """From longvid generate's timestamped output (timeit --log): sampling = the 'seed ...' line to
    the last 'sampling N/N' progress line; decode_write = from there to '[I] wrote'. Best repeat."""
    best, i = None, 1
    while os.path.exists(os.path.join(d, f"longvid.{i}.log")):
        t_seed = t_first = t_last = t_wrote = None
        total = None
        with open(os.path.join(d, f"longvid.{i}.log"), errors="replace") as f:
            for line in f:
                ts, _, text = line.strip().partition(" ")
                try:
                    t = float(ts)
                except ValueError:
                    continue
                if t_seed is None and re.search(r"\] seed \d+", text):
                    t_seed = t
                m = re.search(r"sampling (\d+)/(\d+)", text)
                if m:
                    total = int(m.group(2))
                    if int(m.group(1)) == 1 and t_first is None:
                        t_first = t
                    if int(m.group(1)) == total:
                        t_last = t
                if "[I] wrote" in text:
                    t_wrote = t
        if None not in (t_seed, t_last, t_wrote) and total:
            ph = {"sample_s": t_last - t_seed, "step_s": (t_last - t_seed) / total,
                  "first_step_s": (t_first - t_seed) if t_first is not None else None,
                  "decode_write_s": t_wrote - t_last}
            ph["steady_step_s"] = ((t_last - t_first) / (total - 1)) if (t_first is not None and total > 1) \
                else ph["step_s"]
            if best is None or ph["sample_s"] + ph["decode_write_s"] < best["sample_s"] + best["decode_write_s"]:
                best = ph
        i += 1
    return best or {}


def cmd_summarize(a):
    settings = _load(os.path.join(a.run_dir, "settings.json")) or {}
    try:
        with open(os.path.join(a.run_dir, "rows.txt")) as f:
            names = [x.strip() for x in f if x.strip()]
    except OSError:
        names = []
    rows = []
    for name in names:
        m = _load(os.path.join(a.run_dir, f"{name}.row.json")) or {}
        d = m.get("dir", os.path.join(a.run_dir, name))
        r = {"row": name, "kind": m.get("kind"), "note": m.get("note")}
        # load: process start to the model loaded (the 'loaded' output line of either side, timeit's
        # mark); official_load_internal_s: the official script's own timer (torch.load +
        # instantiate + load_state_dict, without the Python imports).
        r["official_load_s"] = _best_time(d, "official", "mark_s")
        r["official_load_internal_s"] = _best(d, "official", "load_s")
        r["official_wall_s"] = _best_time(d, "official", "wall_s")
        r["longvid_wall_s"] = _best_time(d, "longvid", "wall_s")
        r["longvid_load_s"] = _best_time(d, "longvid", "mark_s")
        r["official_peak_rss_mib"] = _best_time(d, "official", "peak_rss_mib")
        r["longvid_peak_rss_mib"] = _best_time(d, "longvid", "peak_rss_mib")
        if m.get("kind") == "clip":
            r["official_run_s"] = _best(d, "official", "run_s")
            r["official_sample_s"] = _best(d, "official", "sample_s")
            r["official_step_s"] = _best_steady(d)
            r["official_decode_s"] = _best(d, "official", "decode_s")
            r["longvid_run_s"] = _best_time(d, "longvid", "after_mark_s")
            ph = _longvid_phases(d)
            r["longvid_sample_s"] = ph.get("sample_s")
            r["longvid_step_s"] = ph.get("steady_step_s")
            r["longvid_step_mean_s"] = ph.get("step_s")
            r["longvid_first_step_s"] = ph.get("first_step_s")
            r["longvid_decode_write_s"] = ph.get("decode_write_s")
        elif m.get("kind") == "forward":
            r["official_run_s"] = _best(d, "official", "min_s")
            r["longvid_run_s"] = _bench_denoiser(d)
            r["unit"] = "s per forward"
        elif m.get("kind") == "decode":
            r["official_run_s"] = _best(d, "official", "run_s")
            r["longvid_run_s"] = _best_time(d, "longvid", "after_mark_s")
        r["run_ratio"] = (r["official_run_s"] / r["longvid_run_s"]) if r.get("official_run_s") and r.get("longvid_run_s") else None
        r["wall_ratio"] = (r["official_wall_s"] / r["longvid_wall_s"]) if r.get("official_wall_s") and r.get("longvid_wall_s") else None
        cmp_ = _load(os.path.join(d, "compare.json"))
        r["frames"] = cmp_ if cmp_ else None
        r["frames_verdict"] = cmp_["verdict"] if cmp_ else "-"
        exact = _load(os.path.join(d, "compare_attn.json"))
        if exact:
            r["frames_attention_longvid_order"] = exact
            r["frames_verdict"] += f"; attention in longvid's order: {exact['verdict']}"
        if m.get("kind") == "forward":
            r["frames_verdict"] = ("official only (no longvid bench)" if r["longvid_run_s"] is None
                                   else "forward only; longvid: bench denoiser")
        if m.get("kind") == "failed":
            r["frames_verdict"] = "FAILED: " + str(m.get("note"))
        rows.append(r)

    def f(x, nd=2):
        return "-" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))

    hdr = ["row", "off load", "lv load", "off step", "lv step", "off dec", "lv dec+w", "off run", "lv run", "ratio",
           "off wall", "lv wall", "wall ratio", "RSS off/lv MiB", "frames"]
    table = [hdr]
    for r in rows:
        nd = 3 if r.get("kind") == "forward" else 2
        rss = f"{f(r['official_peak_rss_mib'], 0)}/{f(r['longvid_peak_rss_mib'], 0)}"
        table.append([r["row"], f(r["official_load_s"]), f(r["longvid_load_s"]), f(r.get("official_step_s"), 3),
                      f(r.get("longvid_step_s"), 3), f(r.get("official_decode_s")), f(r.get("longvid_decode_write_s")),
                      f(r.get("official_run_s"), nd), f(r.get("longvid_run_s"), nd), f(r["run_ratio"]),
                      f(r["official_wall_s"]), f(r["longvid_wall_s"]), f(r["wall_ratio"]), rss, r["frames_verdict"]])
    w = [max(len(row[i]) for row in table) for i in range(len(hdr))]
    lines = ["  ".join(c.ljust(w[i]) if i in (0, len(hdr) - 1) else c.rjust(w[i]) for i, c in enumerate(row))
             for row in table]
    print("\n".join(lines))
    print("seconds. load: process start to model loaded. step: mean DDIM step over steps 2..N "
          "(the first holds warm-up or compilation; longvid: from its progress lines). dec: decode (longvid: + y4m writing). run: sampling + decode + "
          "uint8 (official: its own timers; longvid: its 'loaded' line to exit). *.fwd rows: seconds per forward, best "
          "timed one. ratio = official / longvid (> 1: longvid faster). RSS: peak resident memory of each process.")
    out = {"settings": settings, "rows": rows, "table": lines}
    write_json(a.json, out)


def _best_time(d, prefix, key):
    """min over the timeit records prefix.1.time.json, prefix.2.time.json, ... of key."""
    return _best(d, prefix, key, suffix=".time.json")
