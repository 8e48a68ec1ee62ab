"""Inference-time defences (no torch here).

``purify``: a random down-and-up resize and a JPEG re-compression of each face crop before it is
scored. Small adversarial perturbations do not survive it well; the price is some clean accuracy
(``python -m ml.evaluation.attack --purify`` measures both). It is random on purpose, so a scored file may
differ slightly between runs; the portal turns it on with ``DETECTOR_PURIFY``.
"""
from __future__ import annotations

import numpy as np

from ml.media import degradations


def purify(crops: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """N x H x W x 3 uint8 crops, each resized down by one random factor and back, then JPEG'd."""
    factor, quality = float(rng.uniform(0.6, 0.9)), int(rng.integers(60, 80))
    return np.stack([degradations.jpeg(degradations.resize(c, factor), quality) for c in crops])
