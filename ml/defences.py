"""Inference-time defences (no torch here).

``purify``: a random down-and-up resize and a JPEG re-compression of each face crop before it is
scored. Small adversarial perturbations do not survive it well; the price is some clean accuracy
(``python -m ml.attack --purify`` measures both). It is random on purpose, so a scored file may
differ slightly between runs; the portal turns it on with ``DETECTOR_PURIFY``.
"""
from __future__ import annotations

import cv2
import numpy as np


def jpeg(crops: np.ndarray, quality: int) -> np.ndarray:
    out = []
    for c in crops:  # OpenCV's codec expects BGR
        ok, buf = cv2.imencode(".jpg", c[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return np.stack(out)


def resize_round_trip(crops: np.ndarray, factor: float) -> np.ndarray:
    s = crops.shape[1]
    small = max(8, int(s * factor))
    return np.stack([cv2.resize(cv2.resize(c, (small, small), interpolation=cv2.INTER_AREA), (s, s),
                                interpolation=cv2.INTER_LINEAR) for c in crops])


def purify(crops: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The inference-time defence: a random down-and-up resize and a JPEG re-compression."""
    return jpeg(resize_round_trip(crops, float(rng.uniform(0.6, 0.9))), int(rng.integers(60, 80)))


