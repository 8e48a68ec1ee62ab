"""Scores against labels: ROC AUC, EER, bootstrap intervals, threshold metrics, class-weighted ECE, and the
Platt calibration fitted with classes weighted equally (scikit-learn does the ROC and the fit)."""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score, roc_curve


def auc(labels, scores) -> float:
    labels, scores = np.asarray(labels), np.asarray(scores)
    if len(set(labels.tolist())) < 2:
        return float("nan")
    return float(roc_auc_score(labels, scores))


def eer(labels, scores) -> float:
    """Equal error rate: where the false-positive and false-negative rates cross on the ROC."""
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2)


def bootstrap(metric, labels, scores, n: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """(value, low, high): the metric and its 95% percentile interval over clips resampled within each class."""
    labels, scores = np.asarray(labels), np.asarray(scores)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    values = []
    for _ in range(n):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        values.append(metric(labels[idx], scores[idx]))
    low, high = np.percentile(values, [2.5, 97.5])
    return float(metric(labels, scores)), float(low), float(high)


def class_weights(labels) -> np.ndarray:
    """Per-item weights that give each class half of the total."""
    labels = np.asarray(labels)
    w = np.where(labels == 1, 0.5 / max((labels == 1).sum(), 1), 0.5 / max((labels == 0).sum(), 1))
    return w * len(labels)


def ece(labels, probs, bins: int = 10) -> float:
    """Expected calibration error with classes weighted equally (10 equal-width bins)."""
    labels, probs = np.asarray(labels, float), np.asarray(probs, float)
    w = class_weights(labels)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(probs, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            wb = w[m]
            total += wb.sum() * abs(np.average(probs[m], weights=wb) - np.average(labels[m], weights=wb))
    return float(total / w.sum())


def at_threshold(labels, probs, threshold: float) -> dict:
    labels = np.asarray(labels)
    pred = (np.asarray(probs) >= threshold).astype(int)
    return {
        "accuracy": float((pred == labels).mean()),
        "balanced_accuracy": float(np.average(pred == labels, weights=class_weights(labels))),
        "precision": float(precision_score(labels, pred, zero_division=0)),
        "recall": float(recall_score(labels, pred, zero_division=0)),
        "f1": float(f1_score(labels, pred, zero_division=0)),
    }


def fit_platt(logits, labels) -> tuple[float, float]:
    """(a, b) with P(synthetic) = sigmoid(a * logit + b), fitted with the classes weighted equally."""
    model = LogisticRegression(C=1e4, class_weight="balanced")
    model.fit(np.asarray(logits, float).reshape(-1, 1), np.asarray(labels))
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def sigmoid(x) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, float), -60, 60)))
