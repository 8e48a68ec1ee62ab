"""Fit the sync check's projection and score on real talking clips: ``python -m ml.sync.calibrate``.

Projection: CCA (one pair) between the prepared mouth measures and band log energies of ``data/train``'s
real clips with speech, the audio taken ``NATURAL_LAG_S`` later, on frames with speech and a face.
Score: negatives are ``data/train``'s real videos with speech, as they are. Positives: the same clips with their
audio played 0.3, 0.5 or 1.0 s later or earlier, and with another clip's audio (a dubbing that does not
match at all). A logistic regression over ``calibration.FEATURES`` of each clip's mean correlation
curve, classes weighted equally, gives P(out of sync). The fit is also scored by
clip-grouped 5-fold cross-validation (ROC AUC, and the flag rates for unshifted, 0.3 s and 1 s shifts),
so the figures printed are not the fit's own training error. Writes ``ml/sync/calibration.json``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import cv2
from sklearn.cross_decomposition import CCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold

from ml.sync import data
from ml.sync.calibration import DEFAULT_PATH, FEATURES, Calibration, features
from ml.sync.checker import Signals, SyncChecker
from ml.sync.mouth import MEASURES
from ml.sync.correlate import NATURAL_LAG_S, fill_gaps, mean_curve, peak, prepare

SHIFTS = (0.3, -0.3, 0.5, -0.5, 1.0, -1.0)
VERSION = "sync-landmarks-cca-1"


def _prepared(columns: np.ndarray, fps: float) -> np.ndarray:
    return np.stack([prepare(fill_gaps(columns[:, j], int(fps * 0.2)), fps) for j in range(columns.shape[1])], 1)


def fit_projection(checker: SyncChecker, items: list[Signals]) -> tuple[list[float], list[float], float]:
    """CCA weights (mouth measures, audio bands) scaled to a largest weight of 1, and the canonical
    correlation on the pooled in-sync frames."""
    X, Y = [], []
    for signals in items:
        measures, bands, speech, pad = checker.aligned(signals)
        fps = signals.mouth.fps
        lag = int(round(NATURAL_LAG_S * fps))
        n = len(measures)
        mouth = _prepared(measures, fps)
        audio = _prepared(bands, fps)[pad + lag:pad + lag + n]
        mouth, talk = mouth[:len(audio)], speech[pad + lag:pad + lag + n]
        ok = np.isfinite(mouth).all(axis=1) & np.isfinite(audio).all(axis=1) & talk
        X.append(mouth[ok])
        Y.append(audio[ok])
    X, Y = np.concatenate(X), np.concatenate(Y)
    cca = CCA(n_components=1, scale=True).fit(X, Y)
    wm = cca.x_rotations_[:, 0] / X.std(axis=0)
    wa = cca.y_rotations_[:, 0] / Y.std(axis=0)
    r = float(np.corrcoef(X @ wm, Y @ wa)[0, 1])
    if r < 0:
        wa, r = -wa, -r
    return (wm / np.abs(wm).max()).tolist(), (wa / np.abs(wa).max()).tolist(), r


def clip_features(checker: SyncChecker, signals: Signals, shift: float = 0.0) -> list[float] | None:
    found, _ = checker.curves(signals, shift)
    if not found:
        return None
    p = peak(found[0].offsets, mean_curve(found))
    return None if p is None else features(p)


def build(checker: SyncChecker, items: list[Signals]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels (1 out of sync), groups (clip index) and the shift of each example
    (NaN for swapped audio)."""
    X, y, groups, shifts = [], [], [], []
    for i, signals in enumerate(items):
        other = items[(i + 1) % len(items)]
        variants = [(0.0, signals, 0)] + [(s, signals, 1) for s in SHIFTS]
        variants.append((np.nan, Signals(signals.mouth, other.sound), 1))
        for shift, sig, label in variants:
            f = clip_features(checker, sig, 0.0 if np.isnan(shift) else shift)
            if f is not None:
                X.append(f)
                y.append(label)
                groups.append(i)
                shifts.append(shift)
    return np.array(X), np.array(y), np.array(groups), np.array(shifts)


def fit(X: np.ndarray, y: np.ndarray) -> LogisticRegression:
    return LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000).fit(X, y)


def out_of_fold(X, y, groups, folds: int = 5) -> np.ndarray:
    """P(out of sync) of every example from a model that never saw its clip."""
    prob = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=folds).split(X, y, groups):
        prob[test] = fit(X[train], y[train]).predict_proba(X[test])[:, 1]
    return prob


def cross_validate(prob, y, shifts, threshold: float) -> dict:
    """Out-of-fold ROC AUC and flag rates at ``threshold``."""
    flagged = prob >= threshold

    def rate(mask):
        return round(float(flagged[mask].mean()), 3) if mask.any() else None

    return {"auc": round(float(roc_auc_score(y, prob)), 3), "false_alarm_unshifted": rate(shifts == 0),
            "flagged_0.3s": rate(np.abs(shifts) == 0.3), "flagged_0.5s": rate(np.abs(shifts) == 0.5),
            "flagged_1.0s": rate(np.abs(shifts) == 1.0), "flagged_swapped": rate(np.isnan(shifts))}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=DEFAULT_PATH)
    ap.add_argument("--threshold", type=float, default=0.5, help="P(out of sync) at which a clip is flagged")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)  # the machine is shared: one core
    checker = SyncChecker(calibration=Calibration(), any_container=True)
    started = time.time()
    items = []
    for path in data.train_reals():
        got = data.cached_signals(path, checker)
        if isinstance(got, Signals) and checker.curves(got)[0]:
            items.append(got)
    mouth_w, audio_w, canonical_r = fit_projection(checker, items)
    checker.calibration.mouth_weights, checker.calibration.audio_weights = mouth_w, audio_w
    X, y, groups, shifts = build(checker, items)
    prob = out_of_fold(X, y, groups)
    threshold = args.threshold
    cv = cross_validate(prob, y, shifts, threshold)
    for t in (0.5, 0.6, 0.7, 0.8):
        print(f"threshold {t:.1f}:", cross_validate(prob, y, shifts, t))
    model = fit(X, y)
    cal = Calibration(bias=float(model.intercept_[0]), weights=[float(w) for w in model.coef_[0]],
                      mouth_weights=[round(w, 4) for w in mouth_w], audio_weights=[round(w, 4) for w in audio_w],
                      threshold=threshold, method_version=VERSION,
                      fitted_on={"clips": len(items), "examples": int(len(y)), "shifts_s": list(SHIFTS),
                                 "swapped": True, "grouped_5fold_cv": cv,
                                 "canonical_correlation": round(canonical_r, 3),
                                 "data": "data/train real videos with speech"})
    cal.save(args.out)
    print(f"{len(items)} clips, {len(y)} examples, {time.time() - started:.0f} s")
    print("projection: mouth", dict(zip(MEASURES, np.round(mouth_w, 3).tolist())), "audio",
          np.round(audio_w, 3).tolist(), f"(canonical r {canonical_r:.3f}, in-sample)")
    print("weights:", {f: round(w, 3) for f, w in zip(FEATURES, cal.weights)}, "bias", round(cal.bias, 3))
    print(f"threshold {threshold}; grouped 5-fold CV:", cv)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
