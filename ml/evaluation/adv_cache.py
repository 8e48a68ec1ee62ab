"""Face crops for the attack suite, the tamper calibration and robust training, cached:
``python -m ml.evaluation.adv_cache --part dev|wild|train``.

Every item goes through the inference path's own crops (``clip_features.face_crops``: sample frames, track
faces, main track, 224 px ``crop_face``) and the shipped detector's frozen encoder once (fp32; the first ~130 dev items of the issue-31 run
were encoded under bf16 autocast before it showed ~8x slower here), and
is stored as one ``.npz`` under ``$ADV_CACHE`` (default /work/data/adversarial):

    crops    N x 224 x 224 x 3 uint8
    feat     N x D float32      the frame feature before standardisation ([class token, mean patch token]
                                of the detector's blocks, each L2-normalised): any head is scored from it

Parts: ``dev`` (data/dev, clean, 6 frames a video), ``wild`` (dev-wild, 6 frames), ``train`` (the
``train`` split of data/train as ``clip_features.train_entries`` deals it by group and identity, 3 frames a
video, a hash-ordered draw of ``--train-items`` items, half real, half fake). Dev and dev-wild are only ever
scored; robust training and the tamper threshold read ``train`` alone. Resumable: finished items are in
``manifest.jsonl`` and skipped. Research-use data: the cache stays outside the repository.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

FRAMES = {"dev": 6, "wild": 6, "train": 3}


def cache_dir() -> Path:
    return Path(os.environ.get("ADV_CACHE") or "/work/data/adversarial")


def item_key(part: str, path: str) -> str:
    return hashlib.sha256(json.dumps([part, path]).encode()).hexdigest()[:20]


def entries(part: str, train_items: int = 400):
    """The items of one part (``clip_features.Entry``), in a fixed order."""
    from ml.training import clip_features as cf
    from ml.training.data import _unit_hash

    if part == "dev":
        return [e for e in cf.dev_entries(frames=FRAMES["dev"]) if e.condition == "clean"]
    if part == "wild":
        from ml.training.token_cache import wild_entries

        return wild_entries(frames=FRAMES["wild"])
    pool = sorted((e for e in cf.train_entries(frames=FRAMES["train"]) if e.split == "train"),
                  key=lambda e: _unit_hash(e.path, 3))
    half = train_items // 2
    return [e for e in pool if e.label == "real"][:half] + [e for e in pool if e.label == "fake"][:half]


class FeatureEncoder:
    """The shipped detector's encoder part: uint8 crops -> frame features before standardisation."""

    def __init__(self, model, threads: int = 1):
        import torch

        torch.set_num_threads(threads)
        self.torch, self.model = torch, model.eval()

    def __call__(self, crops: np.ndarray, batch: int = 8) -> np.ndarray:
        from ml.models.clip_detector import combine

        torch, m, out = self.torch, self.model, []
        with torch.inference_mode():  # fp32: bf16 autocast ran ~8x slower on this CPU
            for i in range(0, len(crops), batch):
                x = torch.from_numpy(crops[i:i + batch]).permute(0, 3, 1, 2).float() / 127.5 - 1.0
                hidden = m.hidden(x)
                out.append(torch.cat([combine(h[:, 0].float(), h[:, 1:].float().mean(1), m.parts, m.l2norm)
                                      for h in hidden], -1).numpy())
        return np.concatenate(out).astype(np.float32)


def load_manifest(part: str) -> list[dict]:
    path = cache_dir() / part / "manifest.jsonl"
    if not path.exists():
        return []
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_items(part: str, *, crops: bool = True) -> list[dict]:
    """Finished items of a part: manifest row + ``feat`` (and ``crops``)."""
    out = []
    for row in load_manifest(part):
        if row.get("status") != "ok":
            continue
        with np.load(cache_dir() / part / "items" / f"{row['key']}.npz") as z:
            out.append(row | {"feat": z["feat"], **({"crops": z["crops"]} if crops else {})})
    return out


def build(part: str, *, model, train_items: int = 400, limit: int | None = None, log=print) -> None:
    import cv2

    from ml.media.faces import FaceFinder
    from ml.training.clip_features import face_crops
    from ml.training.token_cache import source_file

    cv2.setNumThreads(1)
    folder = cache_dir() / part
    (folder / "items").mkdir(parents=True, exist_ok=True)
    done = {r["key"] for r in load_manifest(part)}
    todo = [e for e in entries(part, train_items) if item_key(part, e.path) not in done][:limit]
    encoder, finder, started = FeatureEncoder(model), FaceFinder(), time.time()
    log(f"adv cache {part}: {len(todo)} items to do -> {folder}")
    with open(folder / "manifest.jsonl", "a") as manifest:
        for n, e in enumerate(todo, 1):
            key = item_key(part, e.path)
            row = e.__dict__ | {"key": key}
            try:
                crops, _ = face_crops(str(source_file(e)), e.kind, e.frames, finder)
                if not len(crops):
                    row["status"] = "no_face"
                else:
                    np.savez(folder / "items" / f"{key}.npz", crops=crops, feat=encoder(crops))
                    row |= {"status": "ok", "n": len(crops)}
            except Exception as exc:  # a broken item is recorded, never fatal
                row |= {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
            manifest.write(json.dumps(row) + "\n")
            manifest.flush()
            if n % 25 == 0 or n == len(todo):
                log(f"[{n}/{len(todo)}] {time.time() - started:.0f} s")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.evaluation.adv_cache", description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["dev", "wild", "train"], action="append", required=True)
    parser.add_argument("--train-items", type=int, default=400)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    from ml.paths import DEFAULT_CHECKPOINT
    from ml.models.checkpoint import load_checkpoint

    model, _ = load_checkpoint(DEFAULT_CHECKPOINT)
    for part in args.part:
        build(part, model=model, train_items=args.train_items, limit=args.limit)


if __name__ == "__main__":
    main()
