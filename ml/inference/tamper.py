"""The tamper signal: does the score jump when the decisive crops are changed in small, harmless ways?

A natural face scores about the same after a re-compression, a mirror image or a shift by a few pixels.
An adversarial perturbation is tuned to the exact pixels and to where the encoder's 16 px patches fall:
those changes break part of it and the fake score climbs back. So, on the ``crops`` lowest-scoring crops
of the track that decided the verdict (the ones pulling it towards "authentic"), each benign change is
applied and the crops are scored again; the signal is the mean rise of the frame logit over the changes:

    rise = mean over changes t and crops c of (logit(t(c)) - logit(c))

The changes lose no detail on purpose: blurring ones (a 0.9x resize, a light denoise) raised the fake logit of
*real* training faces by ~2.5 on median (the detector reads fine texture), so they did not tell an attacked
face from a clean one; half-patch shifts (4 and 8 px) and the mirror image moved clean real faces by about
+-1.5 and an attacked one by 5-10 (issue 31's runs, docs/adversarial.md).

It fires above a threshold fitted on real training media (``python -m ml.evaluation.tamper_calibrate``,
kept in ``ml/weights/tamper.json`` for one model version) so that it fires on at most ~2% of them. Only
rises count: a score that falls under a harmless change never makes a verdict more authentic.

numpy and OpenCV only: the ONNX worker uses it without torch. The scorer is any callable
``crops (N x H x W x 3 uint8) -> N frame logits``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

CALIBRATION = Path(__file__).resolve().parent.parent / "weights" / "tamper.json"
CROPS = 3


def jpeg(crop: np.ndarray, quality: int = 75) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", crop[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


def shift(crop: np.ndarray, dx: int = 1, dy: int = 1) -> np.ndarray:
    """Moved by (dx, dy) pixels, the edge repeated."""
    h, w = crop.shape[:2]
    padded = np.pad(crop, ((max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0)), (0, 0)), mode="edge")
    y0, x0 = max(-dy, 0), max(-dx, 0)
    return padded[y0:y0 + h, x0:x0 + w]


def rescale(crop: np.ndarray, factor: float = 0.9) -> np.ndarray:
    """Down by ``factor`` (area) and back up (bilinear), as a platform's resize would."""
    h, w = crop.shape[:2]
    small = cv2.resize(crop, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def denoise(crop: np.ndarray, sigma: float = 0.7) -> np.ndarray:
    return cv2.GaussianBlur(crop, (3, 3), sigma)


def mirror(crop: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(crop[:, ::-1])


# The benign changes, by name (the same list is applied by the attack suite's adaptive attacker).
CHANGES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "jpeg75": jpeg,
    "mirror": mirror,
    "shift8,8": lambda c: shift(c, 8, 8),
    "shift-8,0": lambda c: shift(c, -8, 0),
    "shift4,0": lambda c: shift(c, 4, 0),
}


def decisive(frame_logits: np.ndarray, n: int = CROPS) -> np.ndarray:
    """Indices of the ``n`` lowest-scoring crops: those that pull a mean towards "authentic"."""
    return np.argsort(np.asarray(frame_logits, float), kind="stable")[:n]


def rise(score: Callable[[np.ndarray], np.ndarray], crops: np.ndarray,
         base_logits: np.ndarray | None = None) -> tuple[float, dict[str, float]]:
    """(the signal, the mean logit rise per change) for a few crops, scored in one batch."""
    changed = np.concatenate([np.stack([f(c) for c in crops]) for f in CHANGES.values()])
    if base_logits is None:
        logits = np.asarray(score(np.concatenate([crops, changed])), float)
        base_logits, logits = logits[:len(crops)], logits[len(crops):]
    else:
        logits = np.asarray(score(changed), float)
    per = {name: float((logits[i * len(crops):(i + 1) * len(crops)] - base_logits).mean())
           for i, name in enumerate(CHANGES)}
    return float(np.mean(list(per.values()))), per


def load_calibration(model_version: str, path: Path = CALIBRATION) -> dict | None:
    """The fitted threshold for this model version (None when none was fitted for it)."""
    if not path.exists():
        return None
    cal = json.loads(path.read_text())
    return cal if cal.get("model_version") == model_version else None


class TamperCheck:
    """``check(score, crops, frame_logits)`` -> a JSON-friendly dict: fired, rise, threshold, per change,
    crops used and seconds taken."""

    def __init__(self, threshold: float, crops: int = CROPS):
        self.threshold, self.crops = float(threshold), int(crops)

    @classmethod
    def for_model(cls, model_version: str) -> "TamperCheck | None":
        cal = load_calibration(model_version)
        return cls(cal["threshold"], cal.get("crops", CROPS)) if cal else None

    def check(self, score: Callable[[np.ndarray], np.ndarray], crops: np.ndarray, frame_logits: np.ndarray) -> dict:
        start = time.perf_counter()
        rows = decisive(frame_logits, self.crops)
        value, per = rise(score, crops[rows], np.asarray(frame_logits, float)[rows])
        return {"fired": bool(value > self.threshold), "rise": round(value, 4), "threshold": self.threshold,
                "changes": {k: round(v, 4) for k, v in per.items()}, "crops": int(len(rows)),
                "seconds": round(time.perf_counter() - start, 4)}
