"""The voice detector's own figures: threshold metrics with balanced accuracy, and the Platt calibration
fitted with classes weighted equally (scikit-learn). ROC AUC, EER, bootstrap intervals and ECE are
``ml.metrics``', shared with the face detector."""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_score, recall_score

from ml.metrics import class_weights


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
