"""Geometry of the model health page's small charts, drawn as inline SVG by the template (no JavaScript,
no chart library). Each function takes plain numbers and returns coordinates in the SVG's own units, already
rounded, plus a one-sentence description for screen readers. No Django here."""
from __future__ import annotations

import math
from collections.abc import Sequence

from deepfake_portal.charts import nice_ceiling

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 34


def _number(value: float) -> str:
    return f"{value:g}" if value < 10 else f"{value:.0f}"


def _frame(y_max: float, y_unit: str = "") -> dict:
    """The plot area and the y axis's ticks: ``y_max`` (from ``nice_ceiling``) in steps of 1, 2 or 5."""
    plot = {"x0": LEFT, "x1": WIDTH - RIGHT, "y0": TOP, "y1": HEIGHT - BOTTOM}
    plot["w"], plot["h"] = plot["x1"] - plot["x0"], plot["y1"] - plot["y0"]
    leading = round(y_max / 10 ** math.floor(math.log10(y_max)))
    ticks = 4 if leading == 2 else 5  # 2: 0.5 steps; 1 and 5: 0.2 and 1 steps
    yticks = []
    for k in range(ticks + 1):
        value = y_max * k / ticks
        yticks.append({"y": round(plot["y1"] - plot["h"] * k / ticks, 1), "label": _number(value) + y_unit,
                       "minor": k % 2 == 1})
    return {"width": WIDTH, "height": HEIGHT, "plot": plot, "yticks": yticks}


def _minor_every_other(labels: list[dict]) -> list[dict]:
    """Every other axis label is minor: a phone's narrow chart shows only the others (pages.css)."""
    for i, label in enumerate(labels):
        label["minor"] = i % 2 == 1
    return labels


def _y(frame: dict, value: float, y_max: float) -> float:
    plot = frame["plot"]
    return round(plot["y1"] - plot["h"] * min(value, y_max) / y_max, 1)


def _day_label(day) -> str:
    return f"{day.day} {day:%b}"


def _every(n: int, most: int = 8) -> int:
    """Label every k-th of n slots so that at most ``most`` labels share the axis."""
    return max(1, math.ceil(n / most))


def jobs_per_day(days: Sequence[dict]) -> dict | None:
    """Stacked bars per day: done, failed and still queued or running. ``days``: dicts with ``day``,
    ``done``, ``failed`` and ``count``. None when there are no days to draw."""
    if not days:
        return None
    y_max = max(5, nice_ceiling(max(d["count"] for d in days)))  # whole jobs on every tick
    frame = _frame(y_max)
    plot = frame["plot"]
    slot = plot["w"] / len(days)
    width = round(min(slot * 0.7, 40), 1)
    every = _every(len(days))
    bars, labels = [], []
    for i, d in enumerate(days):
        x = round(plot["x0"] + slot * i + (slot - width) / 2, 1)
        base = 0
        segments = []
        for kind, n in (("done", d["done"]), ("failed", d["failed"]), ("other", d["count"] - d["done"] - d["failed"])):
            if n <= 0:
                continue
            top, bottom = _y(frame, base + n, y_max), _y(frame, base, y_max)
            segments.append({"kind": kind, "x": x, "y": top, "w": width, "h": round(bottom - top, 1)})
            base += n
        title = f"{d['day']:%Y-%m-%d}: {d['count']} jobs ({d['done']} done, {d['failed']} failed)"
        bars.append({"segments": segments, "title": title})
        if i % every == 0:
            labels.append({"x": round(x + width / 2, 1), "label": _day_label(d["day"])})
    busiest = max(days, key=lambda d: d["count"])
    frame.update(bars=bars, xlabels=_minor_every_other(labels), description=(
        f"Bar chart of jobs per day from {days[0]['day']:%Y-%m-%d} to {days[-1]['day']:%Y-%m-%d}: "
        f"{sum(d['count'] for d in days)} jobs in all, the most on {busiest['day']:%Y-%m-%d} ({busiest['count']})."))
    return frame


def processing_time_per_day(days: Sequence[dict]) -> dict | None:
    """Median and 95th-percentile processing time per day as two lines; a day without finished jobs
    breaks the lines. ``days``: dicts with ``day``, ``median_seconds`` and ``p95_seconds`` (None or seconds).
    None when no day has a time."""
    timed = [d for d in days if d.get("median_seconds") is not None]
    if not timed:
        return None
    y_max = nice_ceiling(max(d["p95_seconds"] for d in timed))
    frame = _frame(y_max, " s")
    plot = frame["plot"]
    slot = plot["w"] / len(days)
    every = _every(len(days))
    series = {}
    for key in ("median_seconds", "p95_seconds"):
        path, points, pen_down = [], [], False
        for i, d in enumerate(days):
            value = d.get(key)
            if value is None:
                pen_down = False
                continue
            x, y = round(plot["x0"] + slot * (i + 0.5), 1), _y(frame, value, y_max)
            path.append(f"{'L' if pen_down else 'M'}{x:g},{y:g}")
            points.append({"x": x, "y": y, "left": round(x - 4, 1), "top": round(y - 4, 1),
                           "title": f"{d['day']:%Y-%m-%d}: {value:.1f} s"})
            pen_down = True
        series[key] = {"path": " ".join(path), "points": points}
    labels = [{"x": round(plot["x0"] + slot * (i + 0.5), 1), "label": _day_label(d["day"])}
              for i, d in enumerate(days) if i % every == 0]
    slowest = max(timed, key=lambda d: d["p95_seconds"])
    frame.update(median=series["median_seconds"], p95=series["p95_seconds"], xlabels=_minor_every_other(labels),
                 description=(
        f"Line chart of processing time per day, median and 95th percentile, over {len(timed)} days with "
        f"finished jobs; the slowest 95th percentile was {slowest['p95_seconds']:.1f} s on {slowest['day']:%Y-%m-%d}."))
    return frame


def score_histogram(current: Sequence[int], reference: Sequence[int] | None) -> dict:
    """This week's scores as bars of their share per bin, with the reference's shares drawn over them as a
    step line. Shares, not counts, so a reference of thousands and a week of dozens compare."""
    bins = len(current)
    total, ref_total = sum(current), sum(reference or ())
    shares = [n / total * 100 if total else 0.0 for n in current]
    ref_shares = [n / ref_total * 100 for n in reference] if ref_total else None
    y_max = nice_ceiling(max(shares + (ref_shares or []) + [1.0]))
    frame = _frame(y_max, "%")
    plot = frame["plot"]
    slot = plot["w"] / bins
    bars = []
    for k, (n, share) in enumerate(zip(current, shares)):
        top = _y(frame, share, y_max)
        bars.append({"x": round(plot["x0"] + slot * k + 1, 1), "y": top, "w": round(slot - 2, 1),
                     "h": round(plot["y1"] - top, 1),
                     "title": f"scores {k / bins:.1f}-{(k + 1) / bins:.1f}: {n} this week ({share:.0f}%)"})
    reference_path = ""
    if ref_shares:
        steps = []
        for k, share in enumerate(ref_shares):
            x0, x1, y = round(plot["x0"] + slot * k, 1), round(plot["x0"] + slot * (k + 1), 1), _y(frame, share, y_max)
            steps.append(f"{'M' if k == 0 else 'L'}{x0:g},{y:g} L{x1:g},{y:g}")
        reference_path = " ".join(steps)
    labels = [{"x": round(plot["x0"] + slot * k, 1), "label": f"{k / bins:g}"} for k in range(0, bins + 1, 2)]
    if total:
        top_bin = max(range(bins), key=lambda k: current[k])
        said = f"{total} scores this week, most between {top_bin / bins:.1f} and {(top_bin + 1) / bins:.1f}"
    else:
        said = "no scores this week"
    frame.update(bars=bars, reference_path=reference_path, xlabels=_minor_every_other(labels), description=(
        f"Histogram of this week's detector scores in {bins} bins from 0 to 1 ({said}), as a share of the "
        f"week's scores{', with the reference distribution drawn over it as a dashed step line' if ref_shares else ''}."))
    return frame
