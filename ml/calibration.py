"""Calibrated P(fake): Platt-style temperature scaling fitted on validation clips.

A network's sigmoid output is a ranking, not a probability: a model at chance can still say 0.99. The
card's ``calibration`` maps a raw score p to ``sigmoid((logit(p) - bias) / temperature)``, fitted by
minimising the log loss on the validation clips of the own split (never on dev), so that among items
scored 0.8 about 80% are fake *on data like the validation set*. ``ml.inference.predictor`` reports the
calibrated score (the clip's and each frame's), and the portal's confidence is read from it.

numpy only: the ONNX worker imports this without torch.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, float)))


def apply(params: dict | None, scores) -> np.ndarray:
    """Raw scores -> calibrated scores (identity when ``params`` is None)."""
    scores = np.asarray(scores, float)
    if not params:
        return scores
    return sigmoid((logit(scores) - params["bias"]) / params["temperature"])


def calibrate(card: dict, scores, kind: str = "video") -> np.ndarray:
    """The card's calibration for this kind of item (``video``: the clip rule's score and each frame's;
    ``image``: the frame probability) applied to raw scores; identity for a card without one. A
    card's calibration is ``{"video": {temperature, bias}, "image": {...}}``, or one pair for both."""
    params = card.get("calibration")
    if params and kind in params:
        params = params[kind]
    return apply(params if params and "temperature" in params else None, scores)


def fit_by_kind(y, scores, kinds, *, balanced: bool = False) -> dict:
    """One calibration per kind of item (videos and images are scored by different rules, so one map
    for both fits neither). ``balanced``: fakes and reals weigh the same in each fit, so the calibrated
    score is P(fake) at even prior odds, not at the fitting set's share of fakes."""
    y, scores, kinds = np.asarray(y), np.asarray(scores, float), np.asarray(kinds)
    out = {"method": "temperature scaling with bias (Platt) on logit(score), fitted per kind"
                     + (", classes weighted equally (even prior odds)" if balanced else "")}
    for kind in ("video", "image"):
        sel = kinds == kind
        if sel.sum() >= 4 and len(set(y[sel].tolist())) == 2:
            ys = y[sel].astype(float)
            w = np.where(ys > 0, 0.5 / ys.mean(), 0.5 / (1 - ys.mean())) if balanced else None
            out[kind] = {k: v for k, v in fit(ys, scores[sel], weights=w).items() if k != "method"} | {"n": int(sel.sum())}
    return out


def apply_by_kind(params: dict, scores, kinds) -> np.ndarray:
    scores, kinds = np.asarray(scores, float), np.asarray(kinds)
    out = scores.copy()
    for kind in ("video", "image"):
        sel = kinds == kind
        if sel.any():
            out[sel] = calibrate({"calibration": params}, scores[sel], kind)
    return out


def fit(y, scores, *, iterations: int = 200, prior: float | None = None, weights=None) -> dict:
    """Temperature and bias minimising the mean log loss of ``sigmoid((logit(s) - b) / T)`` (damped
    Newton's method on a = 1/T, c = -b/T, a convex problem). A weak pull towards the identity (a = 1,
    c = 0; weight ``prior``, default 1 / number of clips) keeps a few separable clips from sending the
    temperature to zero; a is kept in [0.02, 50], so a calibration never reverses the ranking."""
    y, z = np.asarray(y, float), logit(scores)
    lam = 1.0 / max(len(y), 1) if prior is None else prior
    # ``weights``: per-item weights (e.g. each class weighing the same, so that 0.5 means even odds
    # whatever the share of fakes in the fitting set); the means below are weighted means.
    sw = np.ones(len(y)) if weights is None else np.asarray(weights, float)
    sw = sw / sw.mean()
    mean = lambda v: float(np.mean(sw * v))  # noqa: E731
    a, c = 1.0, 0.0
    for _ in range(iterations):
        p = sigmoid(a * z + c)
        g = np.array([mean((p - y) * z) + lam * (a - 1), mean(p - y) + lam * c])
        w = p * (1 - p)
        h = np.array([[mean(w * z * z), mean(w * z)], [mean(w * z), mean(w)]]) + lam * np.eye(2)
        step = np.linalg.solve(h, g)
        step *= min(1.0, 2.0 / max(np.abs(step).max(), 1e-12))  # damped: at most 2 per iteration
        a, c = float(np.clip(a - step[0], 0.02, 50.0)), c - step[1]
        if np.abs(step).max() < 1e-10:
            break
    return {"method": "temperature scaling with bias (Platt) on logit(score)", "temperature": round(float(1 / a), 6),
            "bias": round(float(-c / a), 6)}

