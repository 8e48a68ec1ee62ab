"""Train and evaluate the whole-picture probe (``ml.inference.whole_image``).

    python -m ml.training.whole_image_probe extract --cache /work/data/trust/whole_image   # resumable
    python -m ml.training.whole_image_probe fit --cache /work/data/trust/whole_image --out ml/weights/whole_image_probe.npz

**What it learns.** "Generated as a whole picture" against "camera-made": fakes are the photos of
``data/train`` that a generator made entirely (StyleGAN2 faces of the "hard fake vs real" set; Stable
Diffusion 2.1, FlashFace and StoryMaker faces of ``pool-diffusion-faces``). Photoshop composites and
face swaps are left out: a real photo with a pasted face is the face detector's question, not this one.
Reals are the real photos of the same two sets, with real photos of three more sets mixed in (swap
sources and targets of ``pool-faceswap-tools``, Yonsei real photos, UTKFace) so that "which set" is not
what the probe learns.

**Shortcuts removed.** Sizes, formats and JPEG qualities differ between sets. Every training picture
is first re-saved as JPEG at a quality drawn from 60-95 after a resize by a factor drawn from 0.5-1.0
(both drawn from a hash of the path, the same way for fakes and reals), then normalised as at inference
(shorter side to 224, centre crop). Dev pictures get the inference normalisation only.

**Splits.** Train is split by group (``group`` of the pool; else one group per photo: each photo shows
its own person) into fit and validation parts, 80/20; the layer set and the regularisation are chosen on
validation, then the probe is refitted on all of train. ``data/dev`` is scored once, at the end.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ml.inference.whole_image import TAPS, class_tokens, load_picture, normalise, probe_features
from ml.training.prepare import data_root, read_labels

VERSION = "whole-image-probe-v1"
# Photos drawn (by a hash of the path) from each set, so that one CPU encodes them in about half an hour:
# the real-only sets (Yonsei, UTKFace) and the StyleGAN2 set, which would otherwise outweigh the diffusion pool.
DRAWN = {"chmoe_Real_Fake_Face": 50, "Mohanish-5744_Major_Ensemble_Gender": 50, "tharunnayak14_HardFakeVsReal": 240}
LAYER_SETS = ([12], [10, 12], [8, 10, 12])
C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)


@dataclass
class Item:
    root: str  # "train" | "dev"
    path: str  # under the root
    label: int  # 1 generated, 0 camera-made
    source: str  # the set it comes from (for the card's counts)
    group: str
    split: str  # fit | val | dev
    subset: str = ""  # dev: which subset (stylegan, composite, face_crop)


def _unit(text: str) -> float:
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) / 2**32


def _generated(row: dict) -> bool:
    return row["label"] == "fake" and ("StyleGAN" in row["method"] or row["source"] == "pool-diffusion-faces")


def train_items() -> list[Item]:
    root = data_root() / "train"
    rows = [r for r in read_labels(root) if r["kind"] == "image"]
    diff_root = root / "pool-diffusion-faces"
    for r in read_labels(diff_root):
        r["path"], r["source"] = "pool-diffusion-faces/" + r["path"], "pool-diffusion-faces"
        rows.append(r)
    out, drawn = [], {source: [] for source in DRAWN}
    for r in rows:
        if r["kind"] != "image":
            continue
        group = r.get("group") or f"{r['source']}/{Path(r['path']).stem}"
        if not (_generated(r) or r["label"] == "real"):
            continue  # composites and swaps: not this probe's question
        item = Item("train", r["path"], int(_generated(r)), r["source"], group, "")
        (drawn[r["source"]] if r["source"] in drawn else out).append(item)
    for source, items in drawn.items():
        out += sorted(items, key=lambda i: _unit(i.path))[:DRAWN[source]]
    for item in out:
        item.split = "val" if _unit("split:" + item.group) < 0.2 else "fit"
    return out


def dev_items() -> list[Item]:
    out = []
    for r in read_labels(data_root() / "dev"):
        if r["kind"] != "image":
            continue
        subset = ("stylegan" if r["source"] == "tharunnayak14_HardFakeVsReal" else
                  "composite" if r["source"] == "chmoe_Real_Fake_Face" else "face_crop")
        out.append(Item("dev", r["path"], int(r["label"] == "fake"), r["source"], r["path"], "dev", subset))
    return out


def training_view(image, key: str):
    """The training-time re-save: a resize by 0.5-1.0 and JPEG quality 60-95, drawn from ``key``."""
    from PIL import Image

    scale, quality = 0.5 + 0.5 * _unit("scale:" + key), 60 + int(36 * _unit("quality:" + key))
    w, h = image.size
    if scale < 1.0:
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _cache_file(cache: Path, item: Item) -> Path:
    return cache / (hashlib.sha1(f"{VERSION}:{item.root}:{item.path}".encode()).hexdigest() + ".npy")


def extract(cache: Path, batch: int = 8) -> None:
    """Class tokens of every item, one small file each; items already cached are skipped."""
    import torch

    from ml.models.clip_vit import ClipVisionEncoder

    torch.set_num_threads(1)
    cache.mkdir(parents=True, exist_ok=True)
    # Dev first, then train in a hash order: an interrupted run leaves a fair sample of train behind.
    train = sorted(train_items(), key=lambda i: _unit("order:" + i.path))
    items = [i for i in dev_items() + train if not _cache_file(cache, i).exists()]
    print(f"{len(items)} items to encode", flush=True)
    if not items:
        return
    encoder = ClipVisionEncoder.pretrained()
    started = time.monotonic()
    for start in range(0, len(items), batch):
        if start % (10 * batch) == 0:
            print(f"{start}/{len(items)} in {time.monotonic() - started:.0f} s", flush=True)
        chunk = items[start:start + batch]
        pictures = []
        for item in chunk:
            image = load_picture(data_root() / item.root / item.path)
            pictures.append(normalise(training_view(image, item.path) if item.root == "train" else image))
        tokens = class_tokens(encoder, np.stack(pictures))
        for item, t in zip(chunk, tokens):
            np.save(_cache_file(cache, item), t.astype(np.float32))


def _load(cache: Path, items: list[Item], layers: list[int]) -> tuple[np.ndarray, np.ndarray]:
    tokens = np.stack([np.load(_cache_file(cache, i)) for i in items])
    return probe_features(tokens, layers, TAPS), np.array([i.label for i in items])


def _fit(x, y, c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(scaler.transform(x), y)
    # Folded into one linear map on the raw features: w / std, b - sum(mean * w / std).
    w = model.coef_[0] / scaler.scale_
    return w.astype(np.float32), float(model.intercept_[0] - (scaler.mean_ * w).sum())


def _figures(y, p, threshold: float = 0.5) -> dict:
    from sklearn.metrics import roc_auc_score

    from ml.metrics import bootstrap_auc, ece

    y, p = np.asarray(y), np.asarray(p)
    out = {"n_fake": int(y.sum()), "n_real": int((1 - y).sum())}
    if 0 < y.sum() < len(y):
        lo, hi = bootstrap_auc(y, p, n=2000)
        out.update(auc=round(float(roc_auc_score(y, p)), 4), auc_ci95=[round(lo, 4), round(hi, 4)],
                   ece=round(ece(y, p, balanced=True), 4))
    pred = p >= threshold
    out["accuracy"] = round(float((pred == (y == 1)).mean()), 4)
    if y.sum():
        out["recall_fake"] = round(float(pred[y == 1].mean()), 4)
    if (1 - y).sum():
        out["false_positive_rate"] = round(float(pred[y == 0].mean()), 4)
    return out


def fit(cache: Path, out: Path) -> dict:
    from sklearn.metrics import roc_auc_score

    from ml.models import clip_vit

    train, dev = train_items(), dev_items()
    fit_items = [i for i in train if i.split == "fit"]
    val_items = [i for i in train if i.split == "val"]
    choices = []
    for layers in LAYER_SETS:
        xf, yf = _load(cache, fit_items, layers)
        xv, yv = _load(cache, val_items, layers)
        for c in C_GRID:
            w, b = _fit(xf, yf, c)
            choices.append((round(float(roc_auc_score(yv, xv @ w + b)), 4), -len(layers), -c, layers, c))
    # Best validation AUC; within 0.005 of it, fewer layers, then stronger regularisation.
    best_auc = max(ch[0] for ch in choices)
    _, _, _, layers, c = max((ch for ch in choices if ch[0] >= best_auc - 0.005), key=lambda ch: (ch[1], ch[2]))
    xv, yv = _load(cache, val_items, layers)
    w_fit, b_fit = _fit(*_load(cache, fit_items, layers), c)
    pv = 1 / (1 + np.exp(-(xv @ w_fit + b_fit)))
    val = _figures(yv, pv)
    # Within each set that has both sides, and the real-only sets on their own: is it "generated", not "which set"?
    sets = {"stylegan_set": ("tharunnayak14_HardFakeVsReal",), "diffusion_set": ("pool-diffusion-faces",),
            "other_real_sets": ("pool-faceswap-tools", "chmoe_Real_Fake_Face", "Mohanish-5744_Major_Ensemble_Gender")}
    val["by_set"] = {name: _figures(yv[[i.source in srcs for i in val_items]], pv[[i.source in srcs for i in val_items]])
                     for name, srcs in sets.items()}
    w, b = _fit(*_load(cache, train, layers), c)  # refit on all of train with the chosen settings
    w = w.astype(np.float16).astype(np.float32)  # shipped as float16 (a few KB); every figure below uses these
    xd, yd = _load(cache, dev, layers)
    pd = 1 / (1 + np.exp(-(xd @ w + b)))
    subsets = {"stylegan": "dev StyleGAN2 vs real photos (tharunnayak14_HardFakeVsReal, disjoint part)",
               "composite": "dev Photoshop composites vs real photos (chmoe_Real_Fake_Face)",
               "face_crop": "dev deepfake face crops (DFDC, MesoNet)"}
    dev_figs = {name: dict(what=words, **_figures(yd[[i.subset == name for i in dev]],
                                                  pd[[i.subset == name for i in dev]]))
                for name, words in subsets.items()}
    dev_figs["all_images"] = dict(what="every dev image (composites and face swaps are out of scope)", **_figures(yd, pd))
    counts: dict[str, dict[str, int]] = {}
    for i in train:
        counts.setdefault(i.source, {"generated": 0, "camera": 0})["generated" if i.label else "camera"] += 1
    card = {
        "version": VERSION, "layers": layers, "C": c, "threshold": 0.5, "taps": list(TAPS),
        "encoder": clip_vit.source_info(), "date": time.strftime("%Y-%m-%d"),
        "git_commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "training_data": counts, "selection": {"rule": "best validation AUC; within 0.005, fewer layers then smaller C",
                                               "val_auc_by_choice": [[ch[3], ch[4], ch[0]] for ch in choices]},
        "metrics": {"validation": val, "dev": dev_figs},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, weight=w.astype(np.float16), bias=np.float32(b), card=np.array(json.dumps(card)))
    print(json.dumps(card["metrics"], indent=1))
    print(f"layers {layers} C {c}; wrote {out} ({out.stat().st_size} bytes)")
    return card


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=("extract", "fit", "items"))
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("ml/weights/whole_image_probe.npz"))
    args = ap.parse_args(argv)
    if args.command == "extract":
        extract(args.cache)
    elif args.command == "fit":
        fit(args.cache, args.out)
    else:
        for item in train_items() + dev_items():
            print(json.dumps(asdict(item)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
