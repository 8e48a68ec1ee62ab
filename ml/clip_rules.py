"""Clip rules: how a face track's frame probabilities (and the temporal model's) become the track's score.

Named and swappable (the model card picks one with ``clip_rule``); numpy only, so the ONNX worker, the
trainers and the evaluations all take the rule from here. An image is one frame: its score is that
frame's probability, whatever the rule.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def topk_mean(probs) -> float:
    """Mean of the most suspicious quarter of a track's frame probabilities (at least one frame): a swap
    visible in a few frames is not averaged away."""
    probs = np.sort(np.asarray(probs, float))
    return float(probs[-max(1, len(probs) // 4):].mean())


CLIP_RULES: dict[str, Callable[[np.ndarray, float], float]] = {
    "lstm": lambda frame_probs, clip_prob: clip_prob,
    "mean_frames": lambda frame_probs, clip_prob: float(frame_probs.mean()),
    "mean_lstm_frames": lambda frame_probs, clip_prob: float((frame_probs.mean() + clip_prob) / 2),
    "topk_frames": lambda frame_probs, clip_prob: topk_mean(frame_probs),
}


def track_score(rule: str, kind: str, frame_probs, clip_prob: float) -> float:
    """A face track's raw (uncalibrated) score: an image's frame probability, a video's by ``rule``."""
    if kind == "image":
        return float(frame_probs[0])
    return CLIP_RULES[rule](np.asarray(frame_probs, float), clip_prob)
