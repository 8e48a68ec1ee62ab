"""Cross-correlate mouth motion with the speech envelope over a range of audio offsets.

Both signals are sampled at the video's (thinned) frame rate. Each is smoothed over 3 frames (landmark
and pixel jitter), high-passed (its 1 s moving average removed: slow head motion and loudness drift
carry no timing) and its first difference taken, so what is matched is *change*: the lips opening as a syllable's energy rises. For every
segment of ``segment_s`` seconds with a tracked face and speech, the Pearson correlation between the
segment's mouth signal and the audio envelope ``k`` frames later is computed for every ``k`` within
``max_offset_s``; ``k > 0`` means the audio is late. Audio outside the segment is used, so every
offset compares whole segments where the soundtrack allows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Where the correlation peaks on real, untouched talking clips: the mouth darkens (opens) about 80 ms
# before the speech-band energy rises (median over data/train's real clips with sound). Offsets are
# judged from here, so ``offset_s`` near +0.08 is "in sync".
NATURAL_LAG_S = 0.08


@dataclass
class Curve:
    start: float  # seconds
    end: float
    offsets: np.ndarray  # seconds, ascending, symmetric around 0
    corr: np.ndarray  # Pearson correlation at each offset (NaN where too little overlap)
    speech: float  # share of the segment's frames with speech
    face: float  # share of the segment's frames with a tracked face


@dataclass
class Peak:
    offset_s: float  # where the correlation peaks
    peak: float  # its height
    at_zero: float  # the best correlation within ``tolerance_s`` of the in-sync lag
    confidence: float  # peak height over the median correlation at all offsets (SyncNet's measure)


def fill_gaps(x: np.ndarray, max_gap: int) -> np.ndarray:
    """Linear interpolation across NaN runs of at most ``max_gap`` samples; longer runs stay NaN."""
    x = x.astype(np.float64).copy()
    bad = ~np.isfinite(x)
    if bad.all() or not bad.any():
        return x
    idx = np.arange(len(x))
    filled = np.interp(idx, idx[~bad], x[~bad])
    edges = np.diff(np.concatenate([[0], bad.astype(np.int8), [0]]))
    for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        inside = start > 0 and end < len(x)
        if inside and end - start <= max_gap:
            x[start:end] = filled[start:end]
    return x


def prepare(x: np.ndarray, fps: float, smooth: int = 3) -> np.ndarray:
    """3-frame moving average, high-pass (minus the centred ~1 s moving average) and first
    difference; NaN stays NaN."""
    valid = np.isfinite(x)
    if smooth > 1 and valid.any():
        filled = np.where(valid, x, np.nanmean(x))
        x = np.where(valid, np.convolve(filled, np.ones(smooth) / smooth, "same"), np.nan)
    width = max(3, int(round(fps)) | 1)
    filled = np.where(valid, x, 0.0)
    kernel = np.ones(width)
    total = np.convolve(filled, kernel, "same")
    count = np.convolve(valid.astype(np.float64), kernel, "same")
    high = np.where(valid, x - total / np.maximum(count, 1), np.nan)
    return np.diff(high, prepend=np.nan)


def _pearson(a: np.ndarray, b: np.ndarray, min_count: int) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < min_count:
        return np.nan
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else np.nan


def curves(mouth: np.ndarray, audio: np.ndarray, speech: np.ndarray, fps: float, *, pad: int = 0,
           segment_s: float = 3.0, max_offset_s: float = 1.5, min_speech: float = 0.3,
           min_face: float = 0.7, min_overlap: float = 0.8) -> list[Curve]:
    """One correlation curve per usable segment (a face in ``min_face`` and speech in ``min_speech``
    of its frames). ``audio`` (envelope) and ``speech`` (bool) cover ``pad`` frames more than
    ``mouth`` on each side (NaN where the soundtrack has no sample), so an offset can reach past the
    video's window. An offset counts only where at least ``min_overlap`` of the segment's frames
    have both signals: short overlaps give large chance correlations."""
    n = len(mouth)
    mouth_raw = fill_gaps(mouth, max_gap=int(fps * 0.2))
    v, a = prepare(mouth_raw, fps), prepare(audio, fps)
    seg = max(8, int(round(segment_s * fps)))
    K = int(round(max_offset_s * fps))
    offsets = np.arange(-K, K + 1)
    out = []
    for start in range(0, max(n - seg, 0) + 1, seg):
        end = min(start + seg, n)
        if end - start < seg * 0.75:
            break
        face = float(np.isfinite(mouth_raw[start:end]).mean())
        talk = float(speech[pad + start:pad + end].mean())
        if face < min_face or talk < min_speech:
            continue
        corr = np.full(len(offsets), np.nan)
        for i, k in enumerate(offsets):
            lo, hi = max(start, -k - pad), min(end, len(a) - pad - k)
            if hi - lo >= min_overlap * (end - start):
                corr[i] = _pearson(v[lo:hi], a[pad + lo + k:pad + hi + k], int(min_overlap * (end - start)))
        out.append(Curve(start / fps, end / fps, offsets / fps, corr, talk, face))
    return out


def peak(offsets: np.ndarray, corr: np.ndarray, tolerance_s: float = 0.12,
         centre_s: float = NATURAL_LAG_S) -> Peak | None:
    """The peak of one curve (or a mean of curves), None when it is all NaN. ``at_zero`` is the best
    correlation within ``tolerance_s`` of ``centre_s`` (the in-sync lag)."""
    ok = np.isfinite(corr)
    if not ok.any():
        return None
    c = np.where(ok, corr, -np.inf)
    i = int(np.argmax(c))
    near = ok & (np.abs(offsets - centre_s) <= tolerance_s + 1e-9)
    at_zero = float(corr[near].max()) if near.any() else float("nan")
    return Peak(float(offsets[i]), float(corr[i]), at_zero, float(corr[i] - np.median(corr[ok])))


def mean_curve(items: list[Curve]) -> np.ndarray | None:
    """The segments' curves averaged offset by offset (weights: speech share), NaN-aware."""
    if not items:
        return None
    stack = np.stack([c.corr for c in items])
    weights = np.array([c.speech for c in items])[:, None] * np.isfinite(stack)
    total = weights.sum(axis=0)
    mean = np.nansum(np.nan_to_num(stack) * weights, axis=0) / np.maximum(total, 1e-9)
    return np.where(total > 0, mean, np.nan)
