"""Scores against labels, for every detector here (faces, voice, lip-sync): one home for each figure.

scikit-learn computes the ROC curve, its area, log loss and the threshold figures; numpy the bootstrap
intervals and the calibration error. Labels are 1 for fake (or synthetic, or out of sync), 0 for real;
scores are P(fake) or any score that ranks like it. A figure that needs both classes is nan without them.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn import metrics as skm

EPS = 1e-6  # probabilities are clipped to [EPS, 1 - EPS] for the log loss


def rounded(v) -> float | None:
    """A figure for JSON: rounded to 4 decimals, nan -> None."""
    return None if v is None or v != v else round(float(v), 4)


def _both_classes(y) -> bool:
    y = np.asarray(y).astype(int)
    return len(y) > 0 and y.min() != y.max()


def roc_curve(y, scores):
    """(fpr, tpr, thresholds), thresholds descending from +inf; every distinct score is a point."""
    return skm.roc_curve(np.asarray(y).astype(int), np.asarray(scores, float), drop_intermediate=False)


def roc_auc(y, scores) -> float:
    """Area under the ROC curve (ties count one half); nan without both classes."""
    if not _both_classes(y):
        return float("nan")
    return float(skm.roc_auc_score(np.asarray(y).astype(int), np.asarray(scores, float)))


def eer(y, scores) -> float:
    """Equal error rate: where the false-positive and false-negative rates cross on the ROC."""
    fpr, tpr, _ = skm.roc_curve(np.asarray(y).astype(int), np.asarray(scores, float))
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2)


def bootstrap(metric: Callable, y, scores, *, rounds: int = 1000, seed: int = 0,
              stratified: bool = True) -> tuple[float, float]:
    """95% percentile interval of ``metric(y, scores)`` over resampled items. ``stratified``: each class
    is resampled on its own (the class sizes stay fixed); otherwise all items are resampled together and
    draws that lack a class are passed over. (nan, nan) without both classes."""
    y, s = np.asarray(y), np.asarray(scores)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if not len(pos) or not len(neg):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        if stratified:
            idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        else:
            idx = rng.integers(0, len(y), len(y))
            if not 0 < y[idx].sum() < len(idx):
                continue
        values.append(metric(y[idx], s[idx]))
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def bootstrap_auc(y, scores, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% interval of ROC AUC, each class resampled on its own."""
    return bootstrap(roc_auc, y, scores, rounds=n, seed=seed)


def log_loss(y, p) -> float:
    """Mean negative log-likelihood of the labels under P(fake) ``p``."""
    p = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    return float(skm.log_loss(np.asarray(y, float), p, labels=[0, 1]))


def class_weights(y) -> np.ndarray:
    """Per-item weights that give each class half of the total (which sums to 1)."""
    y = np.asarray(y, float)
    return np.where(y > 0, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1))


def ece(y, p, bins: int = 10, *, balanced: bool = False) -> float:
    """Expected calibration error of P(fake) ``p`` over ``bins`` equal-width bins: the weighted mean gap
    between the mean score and the share of fakes in each bin. ``balanced``: fakes and reals weigh the
    same (the even prior odds a class-weighted calibration is fitted for); otherwise every item counts once."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    if len(y) == 0:
        return float("nan")
    w = class_weights(y) if balanced else np.ones(len(y))
    idx = np.minimum((p * bins).astype(int), bins - 1)
    # Per bin: weight * |weighted mean score - weighted share of fakes| = |sum w p - sum w y|.
    gap = np.bincount(idx, weights=w * p, minlength=bins) - np.bincount(idx, weights=w * y, minlength=bins)
    return float(np.abs(gap).sum() / w.sum())


def binary_metrics(y, scores, threshold: float = 0.5) -> dict:
    """At ``threshold`` (score >= threshold is fake): accuracy, precision, recall, F1 and the confusion
    counts; with the threshold-free ROC AUC and ECE. Figures rounded to 4 decimals, nan as None."""
    y, s = np.asarray(y).astype(int), np.asarray(scores, float)
    pred = (s >= threshold).astype(int)
    tn, fp, fn, tp = (int(v) for v in skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()) if len(y) else (0, 0, 0, 0)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        y, pred, labels=[0, 1], pos_label=1, average="binary", zero_division=0) if len(y) else (0.0, 0.0, 0.0, None)
    return {"n": int(len(y)), "positives": int(y.sum()), "threshold": threshold,
            "accuracy": rounded((tp + tn) / max(len(y), 1)), "precision": rounded(precision), "recall": rounded(recall), "f1": rounded(f1),
            "roc_auc": rounded(roc_auc(y, s)), "ece": rounded(ece(y, s)),
            "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp}}


def auc_by_group(y, scores, groups) -> dict:
    """Per fake method: AUC of that method's fakes against all reals; per real group: its count and
    mean score."""
    y, s, g = np.asarray(y), np.asarray(scores, float), np.asarray(groups)
    out = {}
    for name in sorted(set(g.tolist())):
        sel = g == name
        entry = {"n": int(sel.sum()), "mean_score": round(float(s[sel].mean()), 4)}
        if y[sel].min() == 1:
            entry["auc_vs_all_real"] = rounded(roc_auc(np.r_[y[y == 0], y[sel]], np.r_[s[y == 0], s[sel]]))
        out[name] = entry
    return out


def gate_metrics(labels: list[int], scores: list[float | None], threshold: float) -> dict:
    """The promotion gate's figures on scored items (``None`` scores left out): n, n_scored, auc,
    auc_ci, accuracy, precision, recall, f1, ece, threshold. AUC and its interval are None without both classes."""
    pairs = [(int(y), float(s)) for y, s in zip(labels, scores) if s is not None]
    y = np.array([p[0] for p in pairs], int)
    s = np.array([p[1] for p in pairs], float)
    out = {"n": len(labels), "n_scored": len(pairs), "auc": None, "auc_ci": [None, None], "accuracy": None,
           "precision": None, "recall": None, "f1": None, "ece": None, "threshold": threshold}
    if not pairs:
        return out
    m = binary_metrics(y, s, threshold)
    out.update({k: m[k] for k in ("accuracy", "precision", "recall", "f1")})
    out["ece"] = rounded(ece(y, s))
    if 0 < y.sum() < len(y):
        lo, hi = bootstrap_auc(y, s)
        out["auc"], out["auc_ci"] = rounded(roc_auc(y, s)), [rounded(lo), rounded(hi)]
    return out
