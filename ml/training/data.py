"""Training data: cached real crops (``ml.training.prepare``), splits by person or source clip, and datasets that
make pseudo-fakes on the fly.

- ``identity(record)``: the person (or, where unknown, the source clip or photo) an item shows. Splits
  are drawn over identities, never over frames, so no person is in two splits.
- ``CropBank``: every cached crop of one split, in memory, grouped into pools (video frames, UTKFace,
  other real photos, StyleGAN2 fakes, Photoshop fakes).
- ``FrameDataset``: balanced real / fake crops: self-blended (``sbi``), face swaps between identities
  (``swap``), and the labelled fake photos, with degradations on both classes.
- ``SequenceDataset``: clips for the LSTM stage: real tracks, steady and flickering fakes, and single
  images as one-frame clips (inference scores an image as a one-frame clip).
"""
from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ml.media import degradations
from ml.training import pseudofakes
from ml.training.prepare import default_cache, load_index

SPLITS = ("train", "val", "test")
REAL_POOLS = {"video": 0.45, "utk": 0.25, "photo": 0.30}
FAKE_METHODS = {"sbi": 0.5, "swap": 0.32, "stylegan2": 0.07, "photoshop": 0.11}


# ------------------------------------------------------------------------------------- identities
def identity(record: dict) -> str:
    """Who an item shows, as well as file names tell. Known repeats are merged (the same person in
    several clips or repositories); unknown ones stay one identity per clip or photo."""
    path, source = record["path"], record["source"]
    stem = Path(path).stem.lower()
    if "obama" in stem:  # photos too: the pool has photos of people the older clips show
        return "person/obama"
    if "alexandriaocasiocortez" in stem or "/aoc/" in path.lower():
        return "person/aoc"
    if record["kind"] == "image":
        return f"{source}/{stem}"
    if source == "ali-vilab_dreamtalk":  # MEAD: M030_front_angry_level3_001
        return "person/mead_" + stem.split("_")[0]
    if source in ("FuxiVirtualHuman_styletalk", "tanshuai0219_EDTalk"):
        name = re.sub(r"_?clip_?\d+.*$", "", stem)
        name = re.sub(r"(_short)?$", "", name)
        name = re.sub(r"\d+$", "", name)  # furious_talk1/furious_talk2, pose_source1/2: same sitter
        return f"person/{name}"
    return f"{source}/{stem}"


def pool_of(record: dict) -> str:
    if record["label"] == "fake":
        return "stylegan2" if "StyleGAN" in record["method"] else "photoshop"
    if record["kind"] == "video":
        return "video"
    return "utk" if "UTKFace" in record["method"] else "photo"


def _unit_hash(text: str, seed: int) -> float:
    return zlib.crc32(f"{seed}:{text}".encode()) / 2**32


def assign_splits(records: list[dict], fractions=(0.7, 0.15, 0.15), seed: int = 0) -> dict[str, str]:
    """identity -> split. Video identities are dealt out by clip count so that each split gets its
    share of clips; photo identities by a hash."""
    out: dict[str, str] = {}
    video_ids: dict[str, int] = {}
    for r in records:
        ident = identity(r)
        if r["kind"] == "video":
            video_ids[ident] = video_ids.get(ident, 0) + 1
        else:
            u = _unit_hash(ident, seed)
            out[ident] = "train" if u < fractions[0] else "val" if u < fractions[0] + fractions[1] else "test"
    order = sorted(video_ids, key=lambda k: _unit_hash(k, seed))
    total, taken = sum(video_ids.values()), {"train": 0, "val": 0, "test": 0}
    targets = {s: f * total for s, f in zip(SPLITS, fractions)}
    # Largest identities first (greedy), into the split furthest below its target.
    for ident in sorted(order, key=lambda k: -video_ids[k]):
        split = max(SPLITS, key=lambda s: (targets[s] - taken[s]) / max(targets[s], 1))
        out[ident] = split
        taken[split] += video_ids[ident]
    return out


# ------------------------------------------------------------------------------------------ bank
@dataclass
class Item:
    record: dict
    crops: np.ndarray      # N x S x S x 3 uint8
    landmarks: np.ndarray  # N x 68 x 2
    identity: str
    pool: str


class CropBank:
    """The cached crops of one split, in memory, by pool."""

    def __init__(self, items: list[Item]):
        self.items = items
        self.pools: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            self.pools.setdefault(item.pool, []).append(i)

    @classmethod
    def load(cls, cache: Path | None = None, split: str = "train", *, seed: int = 0, limit: int | None = None,
             fractions=(0.7, 0.15, 0.15)) -> "CropBank":
        folder = (cache or default_cache()) / "train"
        records = [r for r in load_index(folder) if r["status"] == "ok"]
        if not records:
            raise FileNotFoundError(f"no cached crops in {folder}: run python -m ml.training.prepare")
        splits = assign_splits(records, fractions, seed)
        items = []
        for r in records:
            if splits[identity(r)] != split:
                continue
            with np.load(folder / f"{r['key']}.npz") as z:
                items.append(Item(r, z["crops"], z["landmarks"], identity(r), pool_of(r)))
            if limit and len(items) >= limit:
                break
        return cls(items)

    def summary(self) -> dict:
        return {pool: {"items": len(ids), "crops": int(sum(len(self.items[i].crops) for i in ids)),
                       "identities": len({self.items[i].identity for i in ids})} for pool, ids in sorted(self.pools.items())}

    def identities(self) -> set[str]:
        return {item.identity for item in self.items}

    # -- sampling --------------------------------------------------------------------------------
    def _choose(self, rng, weights: dict[str, float]) -> str:
        names = [n for n in weights if self.pools.get(n)]
        p = np.array([weights[n] for n in names], float)
        return names[int(rng.choice(len(names), p=p / p.sum()))]

    def real(self, rng, pool: str | None = None) -> tuple[Item, int]:
        pool = pool or self._choose(rng, REAL_POOLS)
        item = self.items[self.pools[pool][int(rng.integers(len(self.pools[pool])))]]
        return item, int(rng.integers(len(item.crops)))

    def donor(self, rng, target: Item) -> tuple[Item, int]:
        """A real face of another identity, from the same pool where there is one."""
        for _ in range(20):
            item, k = self.real(rng, target.pool if rng.random() < 0.7 and len(self.pools.get(target.pool, [])) > 1 else None)
            if item.identity != target.identity:
                return item, k
        return item, k


# ------------------------------------------------------------------------------------- transforms
def finish(crop: np.ndarray, rng, size: int, *, degrade: float = 1.0, jitter: bool = True,
           degradation: degradations.Degradation | None = None, flip: bool | None = None) -> np.ndarray:
    """Geometry jitter, flip, degradation, resize to the model input (uint8)."""
    s = crop.shape[0]
    if jitter:
        m = cv2.getRotationMatrix2D((s / 2, s / 2), float(rng.uniform(-4, 4)), float(rng.uniform(0.95, 1.06)))
        m[:, 2] += rng.uniform(-0.03, 0.03, 2) * s
        crop = cv2.warpAffine(crop, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    if flip if flip is not None else rng.random() < 0.5:
        crop = crop[:, ::-1]
    crop = np.ascontiguousarray(crop)
    if degradation is None and degrade > 0:
        degradation = degradations.Degradation.draw(rng, degrade)
    if degradation is not None:
        crop = degradation.apply(crop)
    if crop.shape[0] != size:
        interp = cv2.INTER_AREA if rng.random() < 0.5 else cv2.INTER_LINEAR
        crop = cv2.resize(crop, (size, size), interpolation=interp)
    return crop


def make_fake(bank: CropBank, rng, method: str) -> tuple[np.ndarray, str]:
    if method == "sbi":
        item, k = bank.real(rng)
        fake, _ = pseudofakes.self_blend(item.crops[k], item.landmarks[k], rng)
        return fake, "sbi"
    if method == "swap":
        item, k = bank.real(rng)
        donor, j = bank.donor(rng, item)
        fake, _ = pseudofakes.face_swap(item.crops[k], item.landmarks[k], donor.crops[j], donor.landmarks[j], rng)
        return fake, "swap"
    if not bank.pools.get(method):  # a labelled-fake pool this split lacks
        return make_fake(bank, rng, "sbi")
    item = bank.items[bank.pools[method][int(rng.integers(len(bank.pools[method])))]]
    return item.crops[0], method


def sample_crop(bank: CropBank, rng, size: int, *, fake: bool, degrade: float = 1.0,
                methods: dict[str, float] | None = None) -> tuple[np.ndarray, str]:
    """One training crop: (uint8 size x size x 3, method name: real pool or fake method)."""
    if fake:
        methods = methods or FAKE_METHODS
        names = list(methods)
        p = np.array([methods[n] for n in names], float)
        crop, method = make_fake(bank, rng, names[int(rng.choice(len(names), p=p / p.sum()))])
    else:
        item, k = bank.real(rng)
        crop, method = item.crops[k], item.pool
    return finish(crop, rng, size, degrade=degrade), method


def sample_pair(bank: CropBank, rng, size: int, *, degrade: float = 1.0, methods: dict[str, float] | None = None,
                shared: float = 0.8) -> tuple[np.ndarray, np.ndarray, str]:
    """A real crop and a fake made from that same crop (SBI, or a swap onto it; a labelled fake photo
    is paired with a random real), finished with the same jitter and degradation with probability
    ``shared``: the pair differs only by the manipulation, the signal Shiohara and Yamasaki train on."""
    methods = methods or FAKE_METHODS
    names = list(methods)
    p = np.array([methods[n] for n in names], float)
    method = names[int(rng.choice(len(names), p=p / p.sum()))]
    item, k = bank.real(rng)
    real = item.crops[k]
    if method == "sbi":
        fake, _ = pseudofakes.self_blend(real, item.landmarks[k], rng)
    elif method == "swap":
        donor, j = bank.donor(rng, item)
        fake, _ = pseudofakes.face_swap(real, item.landmarks[k], donor.crops[j], donor.landmarks[j], rng)
    else:
        fake, method = make_fake(bank, rng, method)
    if rng.random() < shared:
        seed = int(rng.integers(1 << 31))
        return (finish(real, np.random.default_rng(seed), size, degrade=degrade),
                finish(fake, np.random.default_rng(seed), size, degrade=degrade), method)
    return finish(real, rng, size, degrade=degrade), finish(fake, rng, size, degrade=degrade), method


class FrameDataset(torch.utils.data.IterableDataset):
    """Endless balanced stream of (crop uint8 HxWx3 tensor, label float) for training.

    The stream is a pure function of (seed, position): draw ``i`` (one real/fake pair, or one crop when
    not ``paired``) uses its own generator seeded with ``[seed, i]``, so ``start`` = the number of draws
    already consumed resumes it exactly, in any number of DataLoader worker processes (worker ``w`` of
    ``n`` makes draws ``w, w + n, ...``, which the loader's round-robin puts back in order). The
    degradation strength ramps linearly from ``ramp[0]`` to ``degrade`` over the first ``ramp[1]``
    draws (mild degradations first: blending cues before robustness), also by position, not by clock.
    """

    def __init__(self, bank: CropBank, size: int = 128, *, seed: int = 0, degrade: float = 1.0,
                 methods: dict[str, float] | None = None, ramp: tuple[float, int] | None = None,
                 paired: bool = False, start: int = 0):
        self.bank, self.size, self.seed, self.degrade, self.methods = bank, size, seed, degrade, methods
        self.ramp, self.paired, self.start = ramp, paired, start

    def strength(self, i: int) -> float:
        if not self.ramp or self.ramp[1] <= 0:
            return self.degrade
        initial, draws = self.ramp
        return initial + (self.degrade - initial) * min(1.0, i / draws)

    def draw(self, i: int):
        """Draw ``i``: a list of (crop, label) pairs (two when paired: the real first, then its fake)."""
        rng = np.random.default_rng([self.seed, i])
        if self.paired:
            real, fake, _ = sample_pair(self.bank, rng, self.size, degrade=self.strength(i), methods=self.methods)
            return [(real, 0.0), (fake, 1.0)]
        fake = bool(rng.random() < 0.5)
        crop, _ = sample_crop(self.bank, rng, self.size, fake=fake, degrade=self.strength(i), methods=self.methods)
        return [(crop, float(fake))]

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        i = self.start + worker
        while True:
            for crop, label in self.draw(i):
                yield torch.from_numpy(crop), torch.tensor(label)
            i += workers


def fixed_frames(bank: CropBank, n: int, size: int = 128, *, seed: int = 1, degrade: float = 1.0):
    """A fixed, reproducible evaluation set: (N x size x size x 3 uint8, labels, methods)."""
    rng = np.random.default_rng(seed)
    crops, labels, methods = [], [], []
    for i in range(n):
        fake = i % 2 == 1
        crop, method = sample_crop(bank, rng, size, fake=fake, degrade=degrade)
        crops.append(crop)
        labels.append(int(fake))
        methods.append(method)
    return np.stack(crops), np.array(labels), methods


# -------------------------------------------------------------------------------------- sequences
def make_sequence(bank: CropBank, rng, size: int, *, fake: bool, kind: str = "video", max_len: int = 32,
                  mode: str | None = None, degrade: float = 1.0, clean_raw: bool = False):
    """One clip: (T x size x size x 3 uint8, method). ``kind`` video: a real track (or its steady /
    flickering fake); ``image``: a one-frame clip."""
    if kind == "image" or not bank.pools.get("video"):
        crop, method = sample_crop(bank, rng, size, fake=fake, degrade=degrade)
        return crop[None], f"image:{method}"
    ids = bank.pools["video"]
    item = bank.items[ids[int(rng.integers(len(ids)))]]
    n = len(item.crops)
    length = min(n, max_len)
    start = int(rng.integers(0, n - length + 1))
    crops, points = item.crops[start:start + length], item.landmarks[start:start + length]
    method = "video:real"
    if fake:
        mode = mode or ("steady" if rng.random() < 0.5 else "flicker")
        technique = "sbi" if rng.random() < 0.55 else "swap"
        donor = None
        if technique == "swap":
            d_item, _ = bank.donor(rng, item)
            donor = (d_item.crops, d_item.landmarks)
        crops = pseudofakes.fake_sequence(crops, points, rng, mode, technique, donor)
        method = f"video:{technique}_{mode}"
    degradation = degradations.Degradation.draw(rng, degrade) if degrade > 0 else None
    flip = bool(rng.random() < 0.5)
    # One geometry jitter for the whole track would be steadier; per frame is what the tracker gives.
    out = np.stack([finish(c, rng, size, degradation=degradation, degrade=0, flip=flip, jitter=not clean_raw)
                    for c in crops])
    return out, method


def write_split_manifest(bank_by_split: dict[str, CropBank], path: Path) -> None:
    path.write_text(json.dumps({s: sorted(b.identities()) for s, b in bank_by_split.items()}, indent=1))
