"""One face track's crops scored by a PyTorch model directly: the trainers' and evaluations' shortcut past
decoding and face finding, scored as ``Predictor`` scores (the card's clip rule and calibration)."""
from __future__ import annotations

import cv2
import numpy as np

from ml.calibration import calibrate
from ml.clip_rules import track_score


def score_sequence(model, crops_uint8: np.ndarray) -> dict:
    """Per-frame probabilities and both clip scores for one face track (T x S x S x 3 uint8)."""
    import torch

    from ml.models.builders import preprocess

    with torch.no_grad():
        feats = model.embed(preprocess(torch.from_numpy(np.ascontiguousarray(crops_uint8))))
        frames = torch.sigmoid(model.frame_logits(feats))
        clip = torch.sigmoid(model.clip_logits(feats[None]))[0]
    frames = frames.numpy()
    return {"frames": frames, "lstm": float(clip), "mean": float(frames.mean())}


def shipped(card: dict, r: dict, kind: str) -> float:
    """The score ``ml.inference.predictor`` reports for ``score_sequence``'s result ``r``: an image's frame
    probability, a video's clip rule, calibrated by the card's calibration (the scale its threshold is on)."""
    kind = "image" if kind == "image" else "video"
    raw = track_score(card.get("clip_rule", "lstm"), kind, r["frames"], r["lstm"])
    return float(calibrate(card, [raw], kind)[0])


def resize_all(crops: np.ndarray, size: int) -> np.ndarray:
    """T x S x S x 3 crops resized to ``size`` (area interpolation); unchanged when already that size."""
    if crops.shape[1] == size:
        return crops
    return np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops])
