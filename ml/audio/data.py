"""The speech pool for training: manifest rows, the split by speaker group, and cached codec copies.

    python -m ml.audio.data            # a codec copy of each train clip (mp3/aac/opus, per-clip bitrate), dev at mp3 32k

Copies are int16 ``.npy`` files under ``$AUDIO_CACHE`` (default /work/data/cache-audio), named by split, clip
and variant; finished files are skipped, so an interrupted run resumes. Data come from ``$AUDIO_DATA``
(default /work/data/audio, made by shared/data/audio/build.py); nothing here is copied into the repository.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.audio import degrade

CODEC_KBPS = {"mp3": (16, 24, 32, 48, 64), "aac": (24, 32, 48, 64), "opus": (16, 24, 32, 48, 64)}
TRAIN_VARIANTS = ("clean", "codec")  # "codec": one of CODEC_KBPS's codecs and bitrates, fixed per clip
DEV_VARIANTS = ("clean", "mp3_32")


def data_root() -> Path:
    return Path(os.environ.get("AUDIO_DATA") or "/work/data/audio")


def cache_root() -> Path:
    return Path(os.environ.get("AUDIO_CACHE") or "/work/data/cache-audio")


@dataclass(frozen=True)
class Clip:
    relpath: str
    split: str
    label: int  # 1 = synthetic
    method: str
    kind: str
    group: str
    clip_id: str


def read_manifest(split: str, root: Path | None = None) -> list[Clip]:
    root = root or data_root()
    with open(root / "manifest.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == split]
    return [Clip(r["relpath"], r["split"], int(r["label"] == "fake"), r["method"], r["kind"], r["group"],
                 r["clip_id"] or hashlib.sha1(r["relpath"].encode()).hexdigest()[:10]) for r in rows]


def group_split(clips: list[Clip], val_share: float = 0.2, seed: int = 0) -> tuple[list[Clip], list[Clip]]:
    """Whole speaker groups to validation by a seeded hash (about ``val_share`` of groups)."""
    def in_val(group: str) -> bool:
        h = int(hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()[:8], 16)
        return h / 0xFFFFFFFF < val_share
    train = [c for c in clips if not in_val(c.group)]
    val = [c for c in clips if in_val(c.group)]
    return train, val


def read_wav(path: Path) -> np.ndarray:
    """A 16-bit PCM mono 16 kHz WAV as float32 (the build's own output format)."""
    with wave.open(str(path), "rb") as fh:
        if fh.getframerate() != degrade.SR or fh.getnchannels() != 1 or fh.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16 kHz mono 16-bit PCM")
        data = fh.readframes(fh.getnframes())
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def variant_codec(clip: Clip, variant: str) -> tuple[str, int]:
    """(codec, kbps): "mp3_32" says it; "codec" is a codec and bitrate fixed per clip by a hash."""
    if "_" in variant:
        name, kbps = variant.split("_")
        return name, int(kbps)
    h = int(hashlib.sha256(f"{clip.clip_id}:{variant}".encode()).hexdigest()[:8], 16)
    names = sorted(CODEC_KBPS)
    name = names[h % len(names)]
    return name, CODEC_KBPS[name][(h // len(names)) % len(CODEC_KBPS[name])]


def cache_path(clip: Clip, variant: str) -> Path:
    return cache_root() / clip.split / f"{clip.clip_id}.{variant}.npy"


def load(clip: Clip, variant: str = "clean") -> np.ndarray:
    """The clip's waveform (float32, 16 kHz), clean from the build or a cached codec copy."""
    if variant == "clean":
        return read_wav(data_root() / clip.relpath)
    path = cache_path(clip, variant)
    if not path.exists():
        make_variant(clip, variant)
    return np.load(path).astype(np.float32) / 32768.0


def make_variant(clip: Clip, variant: str) -> Path:
    path = cache_path(clip, variant)
    if path.exists():
        return path
    name, kbps = variant_codec(clip, variant)
    out = degrade.codec(read_wav(data_root() / clip.relpath), name, kbps)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, np.clip(np.round(out * 32768.0), -32768, 32767).astype(np.int16))
    os.replace(tmp, path)
    return path


def build_cache(splits=("train", "dev")) -> None:
    jobs = []
    for split in splits:
        variants = TRAIN_VARIANTS if split == "train" else DEV_VARIANTS
        jobs += [(c, v) for c in read_manifest(split) for v in variants if v != "clean"]
    start, done = time.time(), 0
    for i, (clip, variant) in enumerate(jobs):
        if not cache_path(clip, variant).exists():
            make_variant(clip, variant)
            done += 1
        if i % 200 == 0:
            print(f"{i}/{len(jobs)} ({done} made, {time.time() - start:.0f} s)", file=sys.stderr, flush=True)
    print(f"cache complete: {len(jobs)} copies under {cache_root()} ({done} made now)", file=sys.stderr)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.audio.data", description=__doc__.splitlines()[0])
    parser.add_argument("--splits", default="dev,train")
    args = parser.parse_args(argv)
    build_cache(tuple(args.splits.split(",")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
