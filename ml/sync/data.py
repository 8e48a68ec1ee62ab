"""The clips the sync check is calibrated and evaluated on, and a cache of their signals.

- Calibration: real videos with a soundtrack in ``data/train`` (``$DEEPFAKE_DATA``, else
  ``<repo>/../shared/data``): talking heads from HDTF, VoxCeleb, LivePortrait's and others' examples.
- Evaluation: ``dev-wild`` (videos under ``$DEV_WILD``, default /work/data/dev-wild, labels in the
  shared data's ``dev-wild/labels.csv``); its lip-syncs and dubbings with sound are the positives,
  its real clips with sound the negatives.

Signals (mouth opening and soundtrack of the analysed window) are cached per file and checker setting
under ``$SYNC_CACHE`` (default ``~/.cache/deepfake-portal/sync``), so trying a scoring rule on all
clips takes seconds; the face pass is the slow part.
"""
from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import numpy as np

from ml.sync.checker import Signals, SyncChecker
from ml.sync.mouth import MEASURES, MouthSignal
from ml.sync.result import SyncResult
from ml.sync.soundtrack import RATE, Soundtrack, has_audio

REPO = Path(__file__).resolve().parents[2]
LIP_SYNC_WORDS = ("wav2lip", "lip-sync", "lip sync", "dubbing output", "dubbing (")


def data_root() -> Path:
    return Path(os.environ.get("DEEPFAKE_DATA") or REPO.parent / "shared" / "data")


def dev_wild_dir() -> Path:
    return Path(os.environ.get("DEV_WILD") or "/work/data/dev-wild")


def cache_dir() -> Path:
    return Path(os.environ.get("SYNC_CACHE") or Path.home() / ".cache" / "deepfake-portal" / "sync")


def train_reals() -> list[Path]:
    """Real videos of ``data/train`` that have an audio stream."""
    root = data_root() / "train"
    out = []
    with open(root / "labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            path = root / row["path"]
            if row["kind"] == "video" and row["label"] == "real" and path.exists() and has_audio(str(path)):
                out.append(path)
    return out


def is_lip_sync(method: str) -> bool:
    """A dev-wild method that makes the mouth follow other audio (Wav2Lip and the dubbing apps)."""
    m = method.lower()
    return any(w in m for w in LIP_SYNC_WORDS) and "input" not in m and "no audio" not in m


def dev_wild_rows() -> list[dict]:
    """dev-wild rows with sound: ``path`` (absolute), ``label`` (1 lip-sync, 0 real, None for other
    fakes, e.g. blink animations, reported apart), ``method``."""
    rows = []
    with open(data_root() / "dev-wild" / "labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["has_audio"] != "1" or row["kind"] != "video":
                continue
            if row["label"] == "real":
                label = 0
            elif is_lip_sync(row["method"]):
                label = 1
            else:
                label = None
            rows.append({"path": dev_wild_dir() / row["path"], "label": label, "method": row["method"]})
    return rows


def _key(path: Path, checker: SyncChecker) -> str:
    st = path.stat()
    setting = (checker.window_s, checker.max_offset_s, checker.max_fps, checker.side, checker.detect_side, checker.detect_every,
               MEASURES)
    text = f"{path.resolve()}|{st.st_size}|{int(st.st_mtime)}|{setting}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cached_signals(path: Path, checker: SyncChecker) -> Signals | SyncResult:
    """``checker.signals(path)``, from the cache when it was computed before."""
    file = cache_dir() / f"{_key(path, checker)}.npz"
    if file.exists():
        data = np.load(file, allow_pickle=False)
        if "status" in data:
            return checker._result(str(data["status"]))
        mouth = MouthSignal(data["times"], data["measures"], float(data["fps"]), float(data["face_px"]))
        return Signals(mouth, Soundtrack(data["audio"].astype(np.float32) / 32767.0, RATE))
    got = checker.signals(str(path))
    file.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(got, SyncResult):
        np.savez(file, status=np.array(got.status))
    else:
        audio = np.clip(got.sound.samples * 32767.0, -32767, 32767).astype(np.int16)
        np.savez(file, times=got.mouth.times, measures=got.mouth.measures, fps=got.mouth.fps,
                 face_px=got.mouth.face_px, audio=audio)
    return got
