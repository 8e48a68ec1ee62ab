"""The sync check's fitted numbers: how mouth and sound are combined, and P(out of sync) from a peak.

Two parts, both fitted by ``python -m ml.sync.calibrate`` and stored in ``calibration.json``:

- **Projection**: the mouth signal is a weighted sum of the mouth measures (``mouth.MEASURES``) and the
  audio signal a weighted sum of the band log energies (``soundtrack.ENVELOPE_BANDS``); the weights are
  the first canonical correlation pair (CCA) of the two on real clips at the in-sync lag. Every step
  before the correlation is linear, so projecting first is the same as projecting the prepared signals.
- **Score**: a logistic model over a few named features of the correlation peak.

The coefficients live in ``calibration.json`` beside this file, written by ``python -m
ml.sync.calibrate`` (fitted on real talking clips of ``data/train`` against the same clips with their
audio shifted or swapped). Features, all from a (mean) correlation curve:

- ``at_zero``: the best correlation within 0.12 s of the in-sync lag (``correlate.NATURAL_LAG_S``;
  low: lips and speech do not agree as the file plays);
- ``gain``: the peak's height minus ``at_zero`` (high: they agree better at another offset);
- ``far``: ``min(|offset - lag|, 1)`` in seconds (how far the best alignment is from in sync);
- ``confidence``: peak minus the median over all offsets (low: weak correlation everywhere).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

from ml.sync.correlate import NATURAL_LAG_S, Peak

FEATURES = ("at_zero", "gain", "far", "confidence")
DEFAULT_PATH = os.path.join(os.path.dirname(__file__), "calibration.json")


def features(p: Peak) -> list[float]:
    at_zero = p.at_zero if math.isfinite(p.at_zero) else 0.0
    return [at_zero, p.peak - at_zero, min(abs(p.offset_s - NATURAL_LAG_S), 1.0), p.confidence]


@dataclass
class Calibration:
    bias: float = 0.0
    weights: list[float] = field(default_factory=lambda: [-8.0, 8.0, 2.0, -4.0])
    mouth_weights: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 1.0, 0.0])  # the dark share
    audio_weights: list[float] = field(default_factory=lambda: [0.0, 0.5, 0.5, 0.0])  # 300-3,000 Hz
    threshold: float = 0.5
    method_version: str = "sync-landmarks-uncalibrated"
    fitted_on: dict = field(default_factory=dict)

    def probability(self, p: Peak) -> float:
        z = self.bias + sum(w * f for w, f in zip(self.weights, features(p)))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    @classmethod
    def load(cls, path: str | None = None) -> "Calibration":
        path = path or os.environ.get("SYNC_CALIBRATION") or DEFAULT_PATH
        if not os.path.exists(path):
            return cls()
        with open(path) as fh:
            data = json.load(fh)
        return cls(bias=data["bias"], weights=list(data["weights"]), threshold=data["threshold"],
                   method_version=data["method_version"], fitted_on=data.get("fitted_on", {}),
                   mouth_weights=list(data["mouth_weights"]), audio_weights=list(data["audio_weights"]))

    def save(self, path: str = DEFAULT_PATH) -> None:
        data = {"mouth_weights": self.mouth_weights, "audio_weights": self.audio_weights,
                "features": list(FEATURES), "bias": self.bias, "weights": self.weights,
                "threshold": self.threshold, "method_version": self.method_version,
                "fitted_on": self.fitted_on}
        with open(path, "w") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
