"""Face crops -> frozen CLIP features, cached on disk: ``python -m ml.training.clip_features``.

Every item the CLIP detector learns from or is judged on (the training pool of real deepfakes, the
older real clips and photos of ``data/train``, and ``data/dev`` clean and at H.264 CRF 35) goes through
the inference path's own functions (``sample_frames`` -> ``FaceFinder.track`` -> main track ->
``crop_face`` at 224 px) and then through the CLIP encoder once. Per item one ``.npz`` holds:

    crops    N x 224 x 224 x 3 uint8   (kept for pseudo-fakes and heatmap checks)
    frames   N                         frame index in the source
    summary  N x L x 2 x 768 float16   class token and mean of patch tokens after each block in TAPS
    embed    N x 512 float32           CLIP's image embedding (post-LayerNorm, projection)
    tokens   N x 197 x 768 float16     hidden state after block TOKENS_AT (training items of the pool only:
                                       the input of the top blocks, for LayerNorm tuning)

The file name is a hash of the item's content (sha256), the frame count, the crop parameters and the
encoder's version (the wheel file's sha256), so a changed input or encoder never reads a stale entry.
Finished items are skipped: an interrupted run resumes where it stopped.

The older real clips of ``data/train`` are originals at their own size and compression while every
pool video is a compact copy (3 s, square 1.8 x face box, 288 px, libx264 CRF 22). They are put through
the same step first (``compact_copy``) so that "compact copy" carries no label.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.training.data import SPLITS, _unit_hash
from ml.paths import sha256_file
from ml.training.prepare import REPO, data_root, main_track, read_labels

SIZE, MARGIN = 224, 1.5
TAPS = (4, 6, 8, 10, 12)
TOKENS_AT = 10


def cache_root() -> Path:
    return Path(os.environ.get("CLIP_CACHE") or REPO / "cache" / "clip")


def int8_dir() -> Path:
    """Where ``ml.evaluation.clip_int8`` keeps the wheel's own INT8 graph's features of the cached items."""
    return cache_root() / "int8"


# ------------------------------------------------------------------------------------------ items
@dataclass
class Entry:
    """One medium to cache: where it is, what it is, and which split it belongs to."""
    root: str        # "train" or "dev" (folder of the data root)
    path: str        # relative to the root
    label: str
    kind: str
    method: str
    group: str       # what must stay in one split (pool group, or the identity of older items)
    split: str       # train / val / test (own splits) or dev / dev_th (data/dev, its talking heads)
    condition: str = "clean"  # or h264_crf35 (dev videos re-encoded)
    frames: int = 8


def group_splits(groups: dict[str, int], fractions=(0.7, 0.15, 0.15), seed: int = 0) -> dict[str, str]:
    """group -> split, dealing whole groups (largest first, hash order among equals) into the split
    furthest below its share of items."""
    total = sum(groups.values())
    targets = {s: f * total for s, f in zip(SPLITS, fractions)}
    taken = dict.fromkeys(SPLITS, 0)
    out = {}
    for g in sorted(groups, key=lambda k: (-groups[k], _unit_hash(k, seed))):
        split = max(SPLITS, key=lambda s: (targets[s] - taken[s]) / max(targets[s], 1))
        out[g] = split
        taken[split] += groups[g]
    return out


def pool_group(row: dict) -> str:
    return row.get("group") or f"item:{row['path']}"


def train_entries(*, utk: int = 300, frames: int = 6, seed: int = 0) -> list[Entry]:
    """``data/train``: the pool by group; the older clips and photos by identity (``ml.training.data``'s rules)."""
    from ml.training.data import identity

    rows = read_labels(data_root() / "train")
    pool = [r for r in rows if r["source"].startswith("pool-")]
    older = [r for r in rows if not r["source"].startswith("pool-")]
    counts: dict[str, int] = {}
    for r in pool:
        counts[pool_group(r)] = counts.get(pool_group(r), 0) + 1
    # Older items: identity is the group; UTKFace thinned to `utk` photos (a hash draw, fixed).
    utk_rows = sorted((r for r in older if "UTKFace" in r["method"]), key=lambda r: _unit_hash(r["path"], seed))[:utk]
    older = [r for r in older if "UTKFace" not in r["method"]] + utk_rows
    for r in older:
        g = "id:" + identity(r)
        counts[g] = counts.get(g, 0) + 1
    splits = group_splits(counts, seed=seed)
    # A person the file names know (ml.training.data.identity) may appear in several pool groups and older clips:
    # every unit that shows them goes to the split of the largest such unit.
    people: dict[str, set[str]] = {}
    for r in pool + older:
        person = identity(r)
        if person.startswith("person/"):
            people.setdefault(person, set()).add(pool_group(r) if r in pool else "id:" + person)
    for units in people.values():
        split = splits[max(units, key=lambda u: (counts[u], u))]
        for u in units:
            splits[u] = split
    out = []
    for r in pool:
        g = pool_group(r)
        out.append(Entry("train", r["path"], r["label"], r["kind"], r["method"], g, splits[g], frames=frames))
    for r in older:
        g = "id:" + identity(r)
        out.append(Entry("train", r["path"], r["label"], r["kind"], r["method"], g, splits[g], frames=frames))
    return out


def dev_entries(*, frames: int = 8) -> list[Entry]:
    out = []
    for r in read_labels(data_root() / "dev"):
        split = "dev_th" if r["source"] == "pool-talking-heads" else "dev"
        e = Entry("dev", r["path"], r["label"], r["kind"], r["method"], r.get("group") or r["path"], split, frames=frames)
        out.append(e)
        if r["kind"] == "video" and split == "dev":
            out.append(Entry(**{**e.__dict__, "condition": "h264_crf35"}))
    return out


# ------------------------------------------------------------------------------ media preparation
def needs_compact_copy(entry: Entry) -> bool:
    return entry.root == "train" and entry.kind == "video" and not entry.path.startswith("pool-")


def compact_copy(src: str, dst: str, *, seconds: float = 3.0, side: int = 288, crf: int = 22, scale: float = 1.8) -> None:
    """The pool's copy step for another clip: 3 s from the middle, a square of ``scale`` x the face box
    (fixed over the segment, found on the segment's middle frame), ``side`` px, libx264 at ``crf``."""
    from ml.media.faces import FaceFinder
    from ml.media.decode import probe, sample_frames

    info = probe(src)
    duration = info.duration or seconds
    start = max(0.0, duration / 2 - seconds / 2)
    frames = sample_frames(src, 3, info)
    middle = frames[1] if len(frames) > 1 else frames[0]
    boxes = FaceFinder().detect(middle.image)
    if not boxes:
        boxes = FaceFinder().detect(middle.image, upsample=1)
    if not boxes:
        raise ValueError("no face on the middle frame")
    x0, y0, x1, y1 = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    h, w = middle.image.shape[:2]
    s = min(int(max(x1 - x0, y1 - y0) * scale), w, h)
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    left, top = min(max(cx - s // 2, 0), w - s), min(max(cy - s // 2, 0), h - s)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    tmp = dst + ".part.mp4"
    # Frames are decoded upright (rotation applied) by sample_frames; ffmpeg autorotates the same way.
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-ss", f"{start:.3f}", "-i", src, "-t", f"{seconds}",
           "-an", "-vf", f"crop={s}:{s}:{left}:{top},scale={side}:{side}", "-c:v", "libx264", "-crf", str(crf),
           "-pix_fmt", "yuv420p", tmp]
    subprocess.run(cmd, check=True, timeout=300)
    os.replace(tmp, dst)


def media_path(entry: Entry) -> Path:
    """The file that is actually cropped: the data file, its compact copy, or its CRF 35 re-encoding."""
    src = data_root() / entry.root / entry.path
    if needs_compact_copy(entry):
        dst = cache_root() / "compact" / (hashlib.sha1(entry.path.encode()).hexdigest()[:16] + ".mp4")
        if not dst.exists():
            compact_copy(str(src), str(dst))
        return dst
    if entry.condition == "h264_crf35":
        from ml.media import degradations
        from ml.training.prepare import reencoded_path

        dst = reencoded_path(entry.path, 35)
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            degradations.h264_file(str(src), str(dst) + ".part.mp4", 35)
            os.replace(str(dst) + ".part.mp4", dst)
        return dst
    return src


def face_crops(path: str, kind: str, frames: int, finder) -> tuple[np.ndarray, np.ndarray]:
    """(crops N x 224 x 224 x 3, frame indices) of the main face track, as inference finds it."""
    from ml.media.faces import crop_face
    from ml.media.decode import read_image, sample_frames

    if kind == "image":
        images, index = [read_image(path)], [0]
    else:
        sampled = sample_frames(path, frames)
        images, index = [f.image for f in sampled], [f.index for f in sampled]
    track = main_track([t for t in finder.track(images) if t.faces])
    if track is None:
        return np.zeros((0, SIZE, SIZE, 3), np.uint8), np.zeros(0, int)
    pos = sorted(track.faces)
    crops = np.stack([crop_face(images[p], track.faces[p].landmarks, SIZE, MARGIN)[0] for p in pos])
    return crops, np.array([index[p] for p in pos])


# --------------------------------------------------------------------------------------- encoder
def encoder_version() -> str:
    """The encoder's version in cache keys: the start of the wheel file's sha256 (no graph is built)."""
    from ml.models import clip_vit

    return clip_vit.source_info()["sha256"][:16]


class EncoderRunner:
    """The PyTorch CLIP encoder exported once to an fp32 ONNX graph (1.5x faster than PyTorch on 2 CPU
    cores here) that returns, per crop, the summaries, the embedding and the tokens after TOKENS_AT."""

    def __init__(self, threads: int = 2):
        import onnxruntime as ort

        self.version = encoder_version()
        path = cache_root() / f"encoder-summary-{self.version}.onnx"
        if not path.exists():
            export_summary_graph(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, crops: np.ndarray, batch: int = 8) -> dict[str, np.ndarray]:
        from ml.models.clip_vit import MEAN, STD

        outs = []
        for i in range(0, len(crops), batch):
            x = crops[i:i + batch].astype(np.float32).transpose(0, 3, 1, 2) / 255.0
            x = (x - np.array(MEAN, np.float32)[:, None, None]) / np.array(STD, np.float32)[:, None, None]
            outs.append(self.session.run(None, {"pixels": x}))
        summary, embed, tokens = (np.concatenate([o[k] for o in outs]) for k in range(3))
        return {"summary": summary.astype(np.float16), "embed": embed.astype(np.float32),
                "tokens": tokens.astype(np.float16)}


def export_summary_graph(path: Path) -> None:
    import torch

    from ml.models.clip_vit import ClipVisionEncoder

    class Summary(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, pixels):
            hidden = self.encoder(pixels, taps=TAPS)
            summary = torch.stack([torch.stack([h[:, 0], h[:, 1:].mean(1)], 1) for h in hidden], 1)
            return summary, self.encoder.embed(hidden[-1]), hidden[TAPS.index(TOKENS_AT)]

    path.parent.mkdir(parents=True, exist_ok=True)
    model = Summary(ClipVisionEncoder.pretrained()).eval()
    tmp = path.with_suffix(".part")
    torch.onnx.export(model, (torch.zeros(2, 3, SIZE, SIZE),), str(tmp), input_names=["pixels"],
                      output_names=["summary", "embed", "tokens"], dynamic_axes={"pixels": {0: "n"}},
                      opset_version=17, dynamo=False)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------ cache
def entry_key(content_sha: str, frames: int, condition: str, encoder_version: str) -> str:
    """A cache entry's name: what was cropped (content, or a source entry's key), how, and by which encoder."""
    spec = json.dumps([content_sha, frames, SIZE, MARGIN, condition, TAPS, encoder_version])
    return hashlib.sha256(spec.encode()).hexdigest()[:24]


def load_manifest() -> list[dict]:
    path = cache_root() / "manifest.jsonl"
    if not path.exists():
        return []
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def build(entries: list[Entry], *, threads: int = 2, log=print) -> list[dict]:
    """Cache every entry (skipping those done); returns the manifest rows."""
    import cv2

    from ml.media.faces import FaceFinder

    cv2.setNumThreads(1)
    root = cache_root()
    (root / "items").mkdir(parents=True, exist_ok=True)
    done = {(r["root"], r["path"], r["condition"], r["frames"]) for r in load_manifest()}
    todo = [e for e in entries if (e.root, e.path, e.condition, e.frames) not in done]
    log(f"clip features: {len(entries)} items, {len(entries) - len(todo)} cached, {len(todo)} to do -> {root}")
    runner, finder = EncoderRunner(threads), FaceFinder()
    started, crops_done, counts = time.time(), 0, {}
    with open(root / "manifest.jsonl", "a") as manifest:
        for n, e in enumerate(todo, 1):
            row = e.__dict__ | {"status": "ok"}
            try:
                path = media_path(e)
                key = entry_key(sha256_file(path), e.frames, e.condition, runner.version)
                out = root / "items" / f"{key}.npz"
                crops, index = face_crops(str(path), e.kind, e.frames, finder)
                if not len(crops):
                    row["status"] = "no_face"
                else:
                    feats = runner(crops)
                    if not (e.split == "train" and e.root == "train" and e.path.startswith("pool-")):
                        feats.pop("tokens")
                    np.savez(str(out) + ".part.npz", crops=crops, frames=index, **feats)
                    os.replace(str(out) + ".part.npz", out)
                    row |= {"key": key, "n": len(crops)}
                    crops_done += len(crops)
            except Exception as exc:  # a broken item is recorded, never fatal
                row |= {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
            counts[row["status"]] = counts.get(row["status"], 0) + 1
            manifest.write(json.dumps(row) + "\n")
            manifest.flush()
            if n % 10 == 0 or n == len(todo):
                rate = crops_done / max(time.time() - started, 1e-6)
                eta = (len(todo) - n) * (time.time() - started) / n / 60
                log(f"[{n}/{len(todo)}] {crops_done} crops, {rate:.2f} crops/s, eta {eta:.1f} min {counts}")
    return load_manifest()


def load_features(rows: list[dict] | None = None, *, tokens: bool = False) -> list[dict]:
    """Manifest rows with their arrays attached (``summary``, ``embed``, ``frames``; ``tokens`` on request)."""
    rows = [r for r in (rows if rows is not None else load_manifest()) if r["status"] == "ok"]
    out = []
    for r in rows:
        with np.load(cache_root() / "items" / f"{r['key']}.npz") as z:
            extra = {k: z[k] for k in ("summary", "embed", "frames")}
            if tokens and "tokens" in z.files:
                extra["tokens"] = z["tokens"]
        out.append(r | extra)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.training.clip_features", description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["pool", "dev", "older", "all"], default="all")
    parser.add_argument("--limit", type=int, default=None, help="only the first N items of each part (smoke runs)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    train = train_entries()
    parts = {
        "pool": [e for e in train if e.path.startswith("pool-")],
        "dev": dev_entries(),
        "older": [e for e in train if not e.path.startswith("pool-")],
    }
    order = ["pool", "dev", "older"] if args.part == "all" else [args.part]
    for name in order:
        entries = parts[name][: args.limit] if args.limit else parts[name]
        build(entries, threads=args.threads, log=lambda m: print(m, flush=True))


if __name__ == "__main__":
    sys.exit(main())
