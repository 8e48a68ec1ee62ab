"""Cache aligned face crops and landmarks from the data folder: ``python -m ml.training.prepare``.

For every item of ``<data>/train/labels.csv`` (or ``--split dev``) this finds the faces exactly as
inference does (``FaceFinder.track`` on sampled frames, ``crop_face`` with the shipped margin) and
stores the main face track as ``<cache>/<split>/<key>.npz``:

    crops      N x S x S x 3 uint8 RGB (S = ``--size``, a bit larger than the model input)
    landmarks  N x 68 x 2 float32, in crop pixels
    frames     N int, frame index in the source

An ``index.jsonl`` beside them lists every item with its label, kind, method, source and status.
Items already in the index are skipped, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def data_root() -> Path:
    """``$DEEPFAKE_DATA``, else ``<repo>/../shared/data``."""
    return Path(os.environ.get("DEEPFAKE_DATA") or REPO.parent / "shared" / "data")


def default_cache() -> Path:
    return REPO / "cache" / "crops"


def item_key(rel_path: str) -> str:
    stem = Path(rel_path).stem[:40].replace(" ", "_")
    return f"{stem}-{hashlib.sha1(rel_path.encode()).hexdigest()[:10]}"


def reencoded_path(rel_path: str, crf: int) -> Path:
    """Where a dev video re-encoded at ``crf`` is cached (libx264 veryfast, yuv420p; derived data)."""
    return REPO / "cache" / "dev_h264" / f"{item_key(rel_path)}-crf{crf}.mp4"


def read_labels(split_dir: Path) -> list[dict]:
    with open(split_dir / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["source"] = row["path"].split("/", 1)[0]
    return rows


def main_track(tracks):
    """The track with the most faces, ties broken by face size (the subject, not a bystander)."""
    def size(track):
        boxes = [f.box for f in track.faces.values()]
        return np.mean([(b[2] - b[0]) * (b[3] - b[1]) for b in boxes])
    return max(tracks, key=lambda t: (len(t.faces), size(t)), default=None)


_FINDER = None


def _process(job) -> dict:
    """One item -> its npz (in a worker process). Returns the index record."""
    global _FINDER
    import cv2

    from ml.media.faces import FaceFinder, crop_face
    from ml.media.decode import sample_frames

    cv2.setNumThreads(1)
    row, root, out_dir, size, frames_per_video = job
    if _FINDER is None:
        _FINDER = FaceFinder()
    key = item_key(row["path"])
    record = {k: row[k] for k in ("path", "label", "kind", "method", "source")} | {"key": key}
    try:
        frames = sample_frames(str(root / row["path"]), frames_per_video if row["kind"] == "video" else 1)
        track = main_track(_FINDER.track([f.image for f in frames]))
        if track is None:
            return record | {"status": "no_face", "n": 0}
        crops, points, index = [], [], []
        for pos in sorted(track.faces):
            crop, _, pts = crop_face(frames[pos].image, track.faces[pos].landmarks, size)
            crops.append(crop)
            points.append(pts)
            index.append(frames[pos].index)
        np.savez(out_dir / f"{key}.npz", crops=np.stack(crops), landmarks=np.stack(points).astype(np.float32),
                 frames=np.array(index))
        return record | {"status": "ok", "n": len(crops)}
    except Exception as exc:  # a broken item is recorded, not fatal
        return record | {"status": "error", "n": 0, "error": f"{type(exc).__name__}: {exc}"}


def load_index(out_dir: Path) -> list[dict]:
    path = out_dir / "index.jsonl"
    if not path.exists():
        return []
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def progress(done: int, total: int, started: float, extra: str = "") -> None:
    rate = done / max(time.time() - started, 1e-6)
    eta = (total - done) / rate if rate > 0 else 0
    bar = "#" * int(30 * done / max(total, 1))
    sys.stderr.write(f"\r[{bar:<30}] {done}/{total} {rate:.1f}/s eta {eta / 60:.1f} min {extra}   ")
    sys.stderr.flush()


def prepare(split: str = "train", *, cache: Path | None = None, size: int = 160, frames: int = 32,
            workers: int = 2, limit: int | None = None, kinds: tuple[str, ...] = ("video", "image")) -> Path:
    root = data_root() / split
    out_dir = (cache or default_cache()) / split
    out_dir.mkdir(parents=True, exist_ok=True)
    done = {r["path"] for r in load_index(out_dir)}
    rows = [r for r in read_labels(root) if r["kind"] in kinds]
    if limit:
        rows = rows[:limit]
    todo = [r for r in rows if r["path"] not in done]
    # Videos first: they are the slow part and the LSTM stage needs them.
    todo.sort(key=lambda r: r["kind"] != "video")
    print(f"{split}: {len(rows)} items, {len(rows) - len(todo)} cached, {len(todo)} to do -> {out_dir}", file=sys.stderr)
    started, counts = time.time(), {}
    jobs = [(r, root, out_dir, size, frames) for r in todo]
    with open(out_dir / "index.jsonl", "a") as index, mp.get_context("fork").Pool(workers) as pool:
        for i, record in enumerate(pool.imap_unordered(_process, jobs, chunksize=1 if workers else 1), 1):
            index.write(json.dumps(record) + "\n")
            index.flush()
            counts[record["status"]] = counts.get(record["status"], 0) + 1
            progress(i, len(todo), started, " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    sys.stderr.write("\n")
    print(f"done in {(time.time() - started) / 60:.1f} min: {counts}", file=sys.stderr)
    return out_dir


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.training.prepare", description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="train", choices=["train", "dev"])
    parser.add_argument("--cache", type=Path, default=None, help="cache folder (default <repo>/cache/crops)")
    parser.add_argument("--size", type=int, default=160, help="crop side in pixels (default 160)")
    parser.add_argument("--frames", type=int, default=32, help="frames sampled per video (default 32)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="only the first N items (smoke tests)")
    parser.add_argument("--kind", choices=["video", "image"], default=None)
    args = parser.parse_args(argv)
    prepare(args.split, cache=args.cache, size=args.size, frames=args.frames, workers=args.workers,
            limit=args.limit, kinds=(args.kind,) if args.kind else ("video", "image"))


if __name__ == "__main__":
    main()
