"""Plain numbers for the model health page: percentiles, rates, agreement and drift. No Django here."""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), numpy's linear interpolation between ranks; None without values."""
    return float(np.percentile(values, q)) if len(values) else None


def failure_rates(statuses_and_codes: Iterable[tuple[str, str]]) -> tuple[int, list[dict]]:
    """(final jobs, [{code, count, rate}]) over jobs that ended, most frequent code first."""
    final = 0
    codes: Counter[str] = Counter()
    for status, code in statuses_and_codes:
        if status not in ("done", "failed"):
            continue
        final += 1
        if status == "failed":
            codes[code or "unknown"] += 1
    rows = [{"code": code, "count": n, "rate": n / final} for code, n in codes.most_common()]
    return final, rows


def agreement(pairs: Iterable[tuple[str, str]], *, undecided: Iterable[str] = ("inconclusive",)) -> dict:
    """Detector verdict vs moderator outcome over reviewed items: the agreeing share and the table.

    A verdict in ``undecided`` (inconclusive) neither agrees nor disagrees: it is counted apart, and the
    rate is over the items the detector called one way or the other.
    """
    undecided = set(undecided)
    table = Counter()
    for detector, moderator in pairs:
        table[(detector, moderator)] += 1
    total = sum(table.values())
    decided = sum(n for (d, m), n in table.items() if d not in undecided)
    agreed = sum(n for (d, m), n in table.items() if d == m)
    return {
        "total": total,
        "decided": decided,
        "undecided": total - decided,
        "agreed": agreed,
        "rate": agreed / decided if decided else None,
        "table": {f"{d}->{m}": n for (d, m), n in sorted(table.items())},
    }


BINS = 10  # scores are probabilities: ten equal bins over [0, 1]


def histogram(scores: Iterable[float], bins: int = BINS) -> list[int]:
    """Counts of scores in ``bins`` equal bins over [0, 1]: bin floor(score x bins), scores outside in the end bins."""
    index = (np.fromiter((float(s) for s in scores), dtype=float) * bins).astype(int)
    return np.bincount(np.clip(index, 0, bins - 1), minlength=bins).tolist()


def psi(expected: Sequence[float], actual: Sequence[float], eps: float = 1e-4) -> float | None:
    """Population stability index between two histograms (counts or shares over the same bins).

    Empty bins get a small share ``eps`` so the logarithm stays finite.
    """
    e_total, a_total = sum(expected), sum(actual)
    if not e_total or not a_total:
        return None
    value = 0.0
    for e, a in zip(expected, actual):
        pe, pa = max(e / e_total, eps), max(a / a_total, eps)
        value += (pa - pe) * math.log(pa / pe)
    return value


def ks_statistic(reference: Sequence[float], sample: Sequence[float]) -> float | None:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    if not reference or not sample:
        return None
    a, b = sorted(reference), sorted(sample)
    i = j = 0
    gap = 0.0
    while i < len(a) and j < len(b):
        x = min(a[i], b[j])
        while i < len(a) and a[i] <= x:
            i += 1
        while j < len(b) and b[j] <= x:
            j += 1
        gap = max(gap, abs(i / len(a) - j / len(b)))
    return gap


def reference_from_card(card: dict | None) -> tuple[list[int] | None, list[float] | None, str]:
    """The validation score distribution a model card offers, as (histogram, raw scores, what it was).

    Accepted: ``validation_scores`` as a list of scores, or as ``{"bins": [edges...], "counts": [...]}``
    (edges over [0, 1]; re-binned into ten equal bins by each bin's midpoint).
    """
    if not card:
        return None, None, "no model card could be read"
    scores = card.get("validation_scores")
    if isinstance(scores, list) and scores:
        values = [float(s) for s in scores]
        return histogram(values), values, "validation_scores (list) in the model card"
    if isinstance(scores, dict) and scores.get("counts"):
        counts, edges = scores["counts"], scores.get("bins")
        if not edges or len(edges) != len(counts) + 1:
            edges = [k / len(counts) for k in range(len(counts) + 1)]
        hist = [0] * BINS
        for k, n in enumerate(counts):
            mid = (float(edges[k]) + float(edges[k + 1])) / 2
            hist[min(BINS - 1, max(0, int(mid * BINS)))] += int(n)
        return hist, None, "validation_scores (histogram) in the model card"
    return None, None, "the model card has no validation_scores"
