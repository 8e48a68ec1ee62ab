"""``ml.metrics`` (scikit-learn, numpy) gives the numbers the hand-written metrics it replaced gave.

The references below are those replaced versions, kept here as the definitions: the trapezoid ROC AUC
with ties as one step (``ml/evaluation/evaluate.py``), the stratified and the plain bootstrap
(``dev_eval.py``, ``ml/sync/evaluate.py``), ECE and balanced ECE (two loops in ``evaluate.py`` and
``clip_train.py``), the log loss (``calibration.py``) and the threshold counts. Random scores, with ties.
"""
from __future__ import annotations

import numpy as np
import pytest

from ml import metrics


def old_roc_auc(y, s):
    y, s = np.asarray(y).astype(int), np.asarray(s, float)
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tps = np.cumsum(y)[distinct]
    fps = (distinct + 1) - tps
    return float(np.trapezoid(np.r_[0, tps / y.sum()], np.r_[0, fps / (len(y) - y.sum())]))


def old_ece(y, p, bins=10, balanced=False):
    y, p = np.asarray(y, float), np.asarray(p, float)
    w = np.where(y > 0, 0.5 / y.sum(), 0.5 / (1 - y).sum()) if balanced else np.ones(len(y))
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            total += w[sel].sum() * abs(np.average(p[sel], weights=w[sel]) - np.average(y[sel], weights=w[sel]))
    return total / w.sum()


def old_bootstrap(y, s, rounds, seed, stratified):
    rng, aucs = np.random.default_rng(seed), []
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    for _ in range(rounds):
        if stratified:
            aucs.append(old_roc_auc(np.r_[np.ones(len(pos)), np.zeros(len(neg))],
                                    np.r_[s[rng.choice(pos, len(pos))], s[rng.choice(neg, len(neg))]]))
        else:
            i = rng.integers(0, len(y), len(y))
            if 0 < y[i].sum() < len(i):
                aucs.append(old_roc_auc(y[i], s[i]))
    return float(np.percentile(aucs, 2.5)), float(np.percentile(aucs, 97.5))


def draws(seed: int, n: int = 80):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    y[:2] = [0, 1]
    s = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)
    s[::7] = np.round(s[::7], 1)  # ties
    return y, s


@pytest.mark.parametrize("seed", range(5))
def test_auc_ece_log_loss_and_threshold_figures_are_the_old_numbers(seed):
    y, s = draws(seed)
    assert metrics.roc_auc(y, s) == pytest.approx(old_roc_auc(y, s), abs=1e-12)
    assert metrics.ece(y, s) == pytest.approx(old_ece(y, s), abs=1e-12)
    assert metrics.ece(y, s, balanced=True) == pytest.approx(old_ece(y, s, balanced=True), abs=1e-12)
    p = np.clip(s, 1e-6, 1 - 1e-6)
    assert metrics.log_loss(y, s) == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), abs=1e-12)
    m = metrics.binary_metrics(y, s, 0.5)
    pred = s >= 0.5
    tp, fp, fn = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum()), int((~pred & (y == 1)).sum())
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert m["confusion"] == {"tn": len(y) - tp - fp - fn, "fp": fp, "fn": fn, "tp": tp}
    assert (m["precision"], m["recall"]) == (round(precision, 4), round(recall, 4))
    assert m["f1"] == round(2 * precision * recall / (precision + recall), 4)
    assert m["accuracy"] == round(float((pred == y).mean()), 4)


@pytest.mark.parametrize("stratified", [True, False])
def test_bootstrap_intervals_are_the_old_numbers(stratified):
    y, s = draws(11, 40)
    got = metrics.bootstrap(metrics.roc_auc, y, s, rounds=200, seed=3, stratified=stratified)
    assert got == pytest.approx(old_bootstrap(y, s, 200, 3, stratified), abs=1e-12)
    if stratified:
        assert got == metrics.bootstrap_auc(y, s, n=200, seed=3)


def test_figures_without_both_classes_are_nan_and_an_empty_set_counts_nothing():
    assert np.isnan(metrics.roc_auc([1, 1], [0.2, 0.9]))
    assert all(np.isnan(v) for v in metrics.bootstrap_auc([0, 0, 0], [0.1, 0.2, 0.3]))
    empty = metrics.binary_metrics([], [], 0.5)
    assert empty["confusion"] == {"tn": 0, "fp": 0, "fn": 0, "tp": 0} and empty["roc_auc"] is None
    assert metrics.gate_metrics([1, 0], [None, None], 0.5)["n_scored"] == 0


def test_the_roc_curve_runs_from_the_corner_and_the_eer_is_where_the_errors_cross():
    fpr, tpr, thresholds = metrics.roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert (fpr[0], tpr[0], thresholds[0]) == (0.0, 0.0, np.inf) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert metrics.eer([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert metrics.eer([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.5)
