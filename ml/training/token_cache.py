"""Face crops -> CLIP tokens for LayerNorm tuning (detector v4), cached: ``python -m ml.training.token_cache``.

Every item goes through the inference path's own crops (``clip_features.face_crops``) and then the frozen
CLIP encoder once, in bf16 on the CPU (AVX-512 BF16; cosine >= 0.999 to fp32). Per item one ``.npz``:

    crops    N x 224 x 224 x 3 uint8
    frames   N                          frame index in the source
    tok4     N x 197 x 768 float16      hidden state after block 4 (the input of tuned blocks 5-8)
    tok8     N x 197 x 768 float16      hidden state after block 8 (the input of tuned blocks 9-12)
    summary  N x 5 x 2 x 768 float16    class token and mean patch token after blocks 4, 6, 8, 10, 12
    mask     N x 14 x 14 float16        share of each patch that was changed (``sbi`` items only)

Variants of the *train*-split items (both labels alike, so compression carries no label):
``degraded`` (60% of the items; videos: the crop sequence scaled by 0.5-1 and re-encoded with libx264 at CRF 23-40; images:
scaled by 0.5-1, then JPEG quality 30-100) and ``sbi`` (self-blended pseudo-fakes of real crops, with
the blend mask as patch labels). Dev and dev-wild items are cached clean, dev videos also at CRF 35.

Resumable: finished items are in ``manifest.jsonl`` and skipped.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ml.training.clip_features import Entry, cache_root, dev_entries, face_crops, media_path, train_entries

TAPS = (4, 6, 8, 10, 12)
TOKEN_TAPS = (4, 8)


def v4_root() -> Path:
    return cache_root() / "v4"


def wild_root() -> Path:
    """Where ``dev-wild/build.py`` wrote its videos (``$DEV_WILD``, default /work/data/dev-wild)."""
    return Path(os.environ.get("DEV_WILD") or "/work/data/dev-wild")


def is_ffpp(method: str) -> bool:
    return method.startswith("FF++")


def wild_entries(frames: int = 6) -> list[Entry]:
    """dev-wild: videos from repositories nobody here trained on (split ``wild``; FF++ rows method 'FF++ ...')."""
    from ml.training.prepare import data_root

    with open(data_root() / "dev-wild" / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [Entry("wild", r["path"], r["label"], r["kind"], r["method"], r["group"], "wild", frames=frames) for r in rows]


def train_items(frames: int = 3, photos_per_set: int = 300) -> list[Entry]:
    """``data/train`` as ``clip_features.train_entries`` splits it (train and validation; the own test split
    is left out: dev and dev-wild are the tests), the large photo sets thinned to ``photos_per_set`` each
    (a fixed hash draw; the token pass costs ~0.3 s a crop on 2 busy cores), plus the diffusion faces."""
    from ml.training.data import _unit_hash

    out, taken = [], {}
    for e in sorted(train_entries(frames=frames), key=lambda e: _unit_hash(e.path, 1)):
        big = e.kind == "image" and not e.path.startswith("pool-") and "UTKFace" not in e.method
        if big:
            taken[e.method] = taken.get(e.method, 0) + 1
            if taken[e.method] > photos_per_set:
                continue
        out.append(e)
    return [e for e in out if e.split != "test"] + diffusion_items()


def diffusion_items() -> list[Entry]:
    """``train/pool-diffusion-faces`` (its own labels.csv): groups dealt 70/15/15 by a fixed hash, like the pool."""
    from ml.training.data import _unit_hash
    from ml.training.prepare import data_root

    folder = "pool-diffusion-faces"
    with open(data_root() / "train" / folder / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        u = _unit_hash(r["group"], 0)
        split = "train" if u < 0.7 else "val" if u < 0.85 else "test"
        if split != "test":
            out.append(Entry("train", f"{folder}/{r['path']}", r["label"], "image", r["method"], r["group"], split, frames=1))
    return out


def source_file(e: Entry) -> Path:
    if e.root == "wild":
        return wild_root() / e.path
    return media_path(e)


# --------------------------------------------------------------------------------------- encoder
class TokenEncoder:
    """The frozen CLIP encoder in bf16 autocast: crops -> tokens after blocks 4 and 8, summaries."""

    def __init__(self, threads: int = 2):
        import torch

        from ml.models.clip_vit import ClipVisionEncoder

        torch.set_num_threads(threads)
        self.torch = torch
        self.model = ClipVisionEncoder.pretrained().eval()

    def __call__(self, crops: np.ndarray, batch: int = 16) -> dict[str, np.ndarray]:
        from ml.models.clip_vit import scale_input

        torch = self.torch
        out = {"tok4": [], "tok8": [], "summary": []}
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            for i in range(0, len(crops), batch):
                x = torch.from_numpy(crops[i:i + batch]).permute(0, 3, 1, 2).float()
                hidden = dict(zip(TAPS, self.model(scale_input(x), taps=TAPS)))
                out["tok4"].append(hidden[4].float().numpy().astype(np.float16))
                out["tok8"].append(hidden[8].float().numpy().astype(np.float16))
                out["summary"].append(torch.stack([torch.stack([h[:, 0], h[:, 1:].mean(1)], 1)
                                                   for h in hidden.values()], 1).float().numpy().astype(np.float16))
        return {k: np.concatenate(v) for k, v in out.items()}


# ------------------------------------------------------------------------------------ variants
def degrade(crops: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Compression and resizing as a platform would apply them (on both labels alike)."""
    from ml.media import degradations

    scale = float(rng.uniform(0.5, 1.0))
    x = np.stack([degradations.resize(c, scale) for c in crops]) if scale < 0.95 else crops
    if kind == "video":
        return degradations.h264_sequence(x, crf=int(rng.integers(23, 41)))
    return np.stack([degradations.jpeg(c, int(rng.integers(30, 101))) for c in x])


def self_blended(crops: np.ndarray, rng: np.random.Generator, finder) -> tuple[np.ndarray, np.ndarray]:
    """One self-blended crop per input crop (up to 2) and its 14 x 14 patch mask."""
    from ml.training import pseudofakes
    from ml.training.clip_extra import landmarks_on_crop

    fakes, masks = [], []
    for k in rng.choice(len(crops), min(2, len(crops)), replace=False):
        fake, mask = pseudofakes.self_blend(crops[k], landmarks_on_crop(finder, crops[k]), rng)
        fakes.append(fake.astype(np.uint8))
        m = np.asarray(mask, np.float32)
        m = m[..., 0] if m.ndim == 3 else m
        masks.append(m.reshape(14, 16, 14, 16).mean((1, 3)))
    return np.stack(fakes), np.stack(masks).astype(np.float16)


# ---------------------------------------------------------------------------------------- build
def item_key(e: Entry, variant: str) -> str:
    return hashlib.sha256(json.dumps([e.root, e.path, e.condition, e.frames, variant]).encode()).hexdigest()[:24]


def load_manifest() -> list[dict]:
    path = v4_root() / "manifest.jsonl"
    if not path.exists():
        return []
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def build(todo_entries: list[Entry], *, sbi_max: int = 150, threads: int = 2, log=print) -> None:
    """Cache each entry clean, plus ``degraded`` (train split) and ``sbi`` (train-split reals, up to sbi_max)."""
    import cv2

    from ml.media.faces import FaceFinder

    cv2.setNumThreads(1)
    (v4_root() / "items").mkdir(parents=True, exist_ok=True)
    manifest_rows = load_manifest()
    done = {r["key"] for r in manifest_rows}
    sbi_made = sum(1 for r in manifest_rows if r.get("variant") == "sbi")
    encoder, finder = TokenEncoder(threads), FaceFinder()
    started, crops_done = time.time(), 0
    todo = [e for e in todo_entries if item_key(e, "clean") not in done]
    log(f"token cache: {len(todo_entries)} items, {len(todo)} to do -> {v4_root()}")
    with open(v4_root() / "manifest.jsonl", "a") as manifest:
        def write(e, variant, crops, frames, mask=None):
            key = item_key(e, variant)
            feats = encoder(crops)
            extra = {"mask": mask} if mask is not None else {}
            np.savez(v4_root() / "items" / f"{key}.npz", crops=crops, frames=frames, **feats, **extra)
            row = e.__dict__ | {"variant": variant, "key": key, "status": "ok", "n": len(crops)}
            if variant == "sbi":
                row["label"] = "fake"
            manifest.write(json.dumps(row) + "\n")
            manifest.flush()
            return len(crops)

        for n, e in enumerate(todo, 1):
            try:
                crops, frames = face_crops(str(source_file(e)), e.kind, e.frames, finder)
            except Exception as exc:  # a broken item is recorded, never fatal
                row = e.__dict__ | {"variant": "clean", "key": item_key(e, "clean"), "status": "error",
                                    "error": f"{type(exc).__name__}: {exc}"[:300]}
                manifest.write(json.dumps(row) + "\n")
                continue
            if not len(crops):
                manifest.write(json.dumps(e.__dict__ | {"variant": "clean", "key": item_key(e, "clean"),
                                                        "status": "no_face"}) + "\n")
                continue
            rng = np.random.default_rng(int(item_key(e, "seed")[:8], 16))
            if e.split == "train" and rng.random() < 0.6:  # variants first: the clean row marks the item as done
                crops_done += write(e, "degraded", degrade(crops, e.kind, rng), frames)
                if e.label == "real" and sbi_made < sbi_max and rng.random() < 0.35:
                    try:
                        fakes, masks = self_blended(crops, rng, finder)
                        crops_done += write(e, "sbi", fakes, frames[: len(fakes)], masks)
                        sbi_made += 1
                    except Exception as exc:  # landmarks not found on the crop: no pseudo-fake
                        log(f"sbi skipped for {e.path}: {exc}")
            crops_done += write(e, "clean", crops, frames)
            if n % 20 == 0 or n == len(todo):
                el = time.time() - started
                log(f"[{n}/{len(todo)}] {crops_done} crops, {crops_done / el:.1f} crops/s, "
                    f"eta {(len(todo) - n) * el / n / 60:.1f} min")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.training.token_cache", description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["train", "dev", "wild", "all"], default="all")
    parser.add_argument("--limit", type=int, default=None, help="first N items of each part (smoke runs)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    parts = {"train": train_items(), "dev": dev_entries(frames=6), "wild": wild_entries(6)}
    order = ["dev", "wild", "train"] if args.part == "all" else [args.part]
    for name in order:
        items = parts[name][: args.limit] if args.limit else parts[name]
        build(items, threads=args.threads, log=lambda m: print(m, flush=True))


if __name__ == "__main__":
    sys.exit(main())
