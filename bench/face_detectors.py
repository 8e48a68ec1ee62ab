"""Face-detector recall and cost: the HOG-only finder of before against the cascades of ml.media.faces.

    python bench/face_detectors.py [--sets dev,train,wild] [--train-sample 300] [--frames 6] [--misses]
    python bench/face_detectors.py --scales [--clips 30] [--frames 8]   # HOG vs Haar, which scale

Recall is the share of items that get at least one face track from ``FaceFinder.track``: every item
in these sets comes from a face data set, so recall = found / items. ``visible`` leaves out the few
pictures in which a person sees no face at all (``NO_VISIBLE_FACE``, checked by eye). Items:
- dev: every photo in ``data/dev/labels.csv`` (kind image);
- train: a sample of ``data/train/labels.csv``'s photos, stratified by folder and method (seeded);
- wild: every dev-wild clip (``$DEV_WILD``, labels in ``data/dev-wild/labels.csv``), ``--frames``
  frames each as the predictor samples them (the shipped model card's 6). The GRID ``.mpg`` clips
  are decoded here although the upload check does not accept MPEG-PS yet.
Time is the CPU time of the whole ``track`` call (detection, rescue steps, 68-point landmarks in every
frame) per item, all threads together (cv2 runs on one): CPU time rather than wall time, so that other
work on the shared cores inflates it less. A cascade runs its rescue steps only where HOG found nothing,
so on items the HOG-only finder already finds it is the old code path: those items are timed once and
the time is shared by every row.
No-face pictures (scikit-learn's two sample photos and crops of them, noise and a gradient) count
false faces.
"""
from __future__ import annotations

import argparse
import collections
import csv
import os
import random
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("DEEPFAKE_DATA", REPO.parent / "shared" / "data"))
DEV_WILD = Path(os.environ.get("DEV_WILD", "/work/data/dev-wild"))

from ml.errors import MediaError  # noqa: E402
from ml.media import decode, mediapipe_faces  # noqa: E402
from ml.media.faces import FaceFinder  # noqa: E402

# Rows of the table: name -> rescue steps after HOG (480 px, then 1280 px).
CASCADES = {
    "before: HOG 480, then HOG 1280": (),
    "+ HOG upsampled": ("upsample",),
    "+ HOG padded": ("padded",),
    "+ MediaPipe": ("mediapipe",),
    "+ HOG padded, MediaPipe (shipped)": ("padded", "mediapipe"),
    "+ HOG upsampled, padded, MediaPipe": ("upsample", "padded", "mediapipe"),
}
# Pictures with no face a person can see (crops of hair, a lens flare, a blur), looked at one by one.
NO_VISIBLE_FACE = {
    "dev/chmoe_Real_Fake_Face/result/real/283.jpg",
    "dev/chmoe_Real_Fake_Face/result/fake/312.jpg",
    "dev/chmoe_Real_Fake_Face/result/real/589.jpg",
    "dev/chmoe_Real_Fake_Face/result/real/978.jpg",
}


# -- items ------------------------------------------------------------------------------------------
def _rows(split: str) -> list[dict]:
    with open(DATA / split / "labels.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def dev_items() -> list[tuple[str, Path]]:
    return [(f"dev/{r['path']}", DATA / "dev" / r["path"]) for r in _rows("dev") if r["kind"] == "image"]


def train_items(n: int, seed: int = 0) -> list[tuple[str, Path]]:
    """About ``n`` photos, each folder/method stratum in proportion (at least 2 each)."""
    strata = collections.defaultdict(list)
    for r in _rows("train"):
        if r["kind"] == "image":
            strata[(r["path"].split("/")[0], r["method"])].append(r)
    total = sum(len(v) for v in strata.values())
    rng, out = random.Random(seed), []
    for key in sorted(strata):
        rows = strata[key]
        take = min(len(rows), max(2, round(n * len(rows) / total)))
        out += [(f"train/{r['path']}", DATA / "train" / r["path"]) for r in rng.sample(rows, take)]
    return out


def wild_items() -> list[tuple[str, Path]]:
    return [(f"dev-wild/{r['path']}", DEV_WILD / r["path"]) for r in _rows("dev-wild")]


def frames_of(path: Path, n: int) -> tuple[list[np.ndarray], bool]:
    """The frames the predictor would see, and whether the upload check accepts the file."""
    try:
        return [f.image for f in decode.sample_frames(str(path), n)], True
    except MediaError:
        if path.suffix.lower() not in (".mpg", ".mpeg"):
            raise
        info = decode._probe_video(str(path), "mpg")
        return [f.image for f in decode.sample_frames(str(path), n, info)], False


def no_face_pictures(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    pictures = []
    try:
        from sklearn.datasets import load_sample_images

        photos = load_sample_images().images
    except ImportError:
        photos = []
    for photo in photos:  # a temple and a flower
        pictures.append(photo)
        h, w = photo.shape[:2]
        for _ in range(20):
            s = rng.uniform(0.15, 0.6)
            ch, cw = int(h * s), min(w, int(w * s * rng.uniform(0.7, 1.4)))
            y, x = rng.integers(0, h - ch), rng.integers(0, w - cw)
            pictures.append(np.ascontiguousarray(photo[y:y + ch, x:x + cw]))
    pictures.append((np.linspace(0, 255, 640)[None, :, None] * np.ones((480, 1, 3))).astype(np.uint8))
    noise = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    pictures += [noise, cv2.GaussianBlur(noise, (0, 0), 5)]
    return pictures


# -- measurement ------------------------------------------------------------------------------------
def timed_track(finder: FaceFinder, frames: list[np.ndarray]) -> tuple[str | None, float]:
    start = time.process_time()
    tracks = [t for t in finder.track(frames) if t.faces]
    return (tracks[0].found_by if tracks else None), (time.process_time() - start) * 1000


def measure_set(name: str, items, finders: dict[str, FaceFinder], frames: int, show_misses: bool) -> None:
    results = {c: [] for c in finders}  # cascade -> [(found_by, ms)]
    n_frames, refused, visible = [], 0, []
    before = next(iter(finders))
    for key, path in items:
        pictures, accepted = frames_of(path, frames)
        refused += not accepted
        n_frames.append(len(pictures))
        visible.append(key not in NO_VISIBLE_FACE)
        first = timed_track(finders[before], pictures)
        for cascade, finder in finders.items():
            results[cascade].append(first if first[0] or cascade == before else timed_track(finder, pictures))
    n, nv = len(items), sum(visible)
    extra = f", {refused} not accepted by the upload check" if refused else ""
    print(f"\n{name}: {n} items ({n - nv} with no visible face), {sum(n_frames)} frames{extra}")
    print(f"{'cascade':38s} {'found':>6s} {'recall':>7s} {'visible':>8s} {'ms/item':>8s} {'ms/frame':>9s}"
          f" {'ms/rescued':>10s}  found by")
    for cascade, rows in results.items():
        found = sum(r[0] is not None for r in rows)
        found_visible = sum(r[0] is not None for r, v in zip(rows, visible) if v)
        ms = [r[1] for r in rows]
        rescued = [r[1] for r in rows if r[0] not in ("hog", "hog_large", None)]
        by = collections.Counter(r[0] or "none" for r in rows)
        print(f"{cascade:38s} {found:6d} {found / n:7.3f} {found_visible / max(nv, 1):8.3f} "
              f"{statistics.mean(ms):8.1f} {sum(ms) / sum(n_frames):9.1f} "
              f"{statistics.mean(rescued) if rescued else 0:10.1f}  {dict(sorted(by.items()))}")
    if show_misses:
        for cascade, rows in results.items():
            missed = [key for (key, _), r in zip(items, rows) if r[0] is None]
            print(f"  missed by {cascade}: {missed}")


def measure_no_face(finders: dict[str, FaceFinder]) -> None:
    pictures = no_face_pictures()
    print(f"\nno-face pictures: {len(pictures)}")
    for cascade, finder in finders.items():
        false = sum(bool([t for t in finder.track([p]) if t.faces]) for p in pictures)
        print(f"{cascade:38s} false faces on {false}")


# -- the older comparison: which detector and scale for the fast path -------------------------------
def scales(args) -> None:
    import dlib

    def scaled(rgb, side):
        h, w = rgb.shape[:2]
        s = min(1.0, side / max(h, w))
        return cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else rgb

    videos = [r["path"] for r in _rows("train") if r["kind"] == "video"]
    videos = videos[:: max(1, len(videos) // args.clips)][: args.clips]
    frames = [f.image for v in videos for f in decode.sample_frames(str(DATA / "train" / v), args.frames)]
    print(f"{len(frames)} frames from {len(videos)} real clips "
          f"(median size {statistics.median(f.shape[1] for f in frames):.0f}x"
          f"{statistics.median(f.shape[0] for f in frames):.0f})")
    hog = dlib.get_frontal_face_detector()
    haar = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml"))

    def haar_detect(img):
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        return haar.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(30, 30))

    candidates = {
        "dlib HOG, long side 640, upsample 0": lambda f: hog(scaled(f, 640), 0),
        "dlib HOG, long side 480, upsample 0 (chosen)": lambda f: hog(scaled(f, 480), 0),
        "dlib HOG, long side 320, upsample 0": lambda f: hog(scaled(f, 320), 0),
        "dlib HOG, long side 640, upsample 1": lambda f: hog(scaled(f, 640), 1),
        "OpenCV Haar, long side 640": lambda f: haar_detect(scaled(f, 640)),
        "OpenCV Haar, long side 320": lambda f: haar_detect(scaled(f, 320)),
    }
    print(f"{'detector':48s} {'recall':>7s} {'ms/frame':>9s}")
    for name, detect in candidates.items():
        start = time.perf_counter()
        found = sum(len(detect(f)) > 0 for f in frames)
        ms = (time.perf_counter() - start) / len(frames) * 1000
        print(f"{name:48s} {found / len(frames):7.3f} {ms:9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="dev,train,wild")
    parser.add_argument("--train-sample", type=int, default=300)
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (default 6; --scales: 8)")
    parser.add_argument("--cascades", default="all",
                        help="'all' or comma-separated row numbers (0 = before, always shown)")
    parser.add_argument("--misses", action="store_true", help="list the items each cascade misses")
    parser.add_argument("--scales", action="store_true", help="the older HOG/Haar scale comparison")
    parser.add_argument("--clips", type=int, default=30)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if args.scales:
        args.frames = args.frames or 8
        return scales(args)
    names = list(CASCADES)
    if args.cascades != "all":
        names = [names[0]] + [names[int(i)] for i in args.cascades.split(",") if int(i) > 0]
    finders = {name: FaceFinder(rescue=CASCADES[name]) for name in names}
    if not mediapipe_faces.available():  # also loads it once, outside the timings
        print("mediapipe is not installed: its rows are HOG only")
    loaders = {"dev": dev_items, "train": lambda: train_items(args.train_sample), "wild": wild_items}
    for name in args.sets.split(","):
        measure_set(name, loaders[name](), finders, args.frames or 6, args.misses)
    measure_no_face(finders)


if __name__ == "__main__":
    main()
