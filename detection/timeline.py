"""The report's score timeline as SVG geometry: each analysed face's score against time (no Django, no fpdf).

Units are millimetres, so the PDF places the drawing at its own size; ``templates/detection/timeline.svg``
draws it. The three marks are the verdict's colours and shapes, as on the result page.
"""
from __future__ import annotations

from deepfake_portal.charts import nice_step

LEFT, RIGHT, BOTTOM = 12.0, 2.0, 8.0  # room for the axis labels
MARK = 1.1  # a mark's half size


def side_of(score: float, threshold: float, band: float) -> str:
    """A frame score's verdict key, with the band (frames have no face-size or disagreement rules)."""
    if abs(score - threshold) < band:
        return "inconclusive"
    return "fake" if score >= threshold else "authentic"


def _mark(key: str, x: float, y: float) -> dict:
    r = MARK
    if key == "fake":  # a triangle
        return {"key": key, "points": f"{x},{y - r} {x + r},{y + r * 0.8} {x - r},{y + r * 0.8}"}
    if key == "inconclusive":  # a diamond
        return {"key": key, "points": f"{x},{y - r} {x + r},{y} {x},{y + r} {x - r},{y}"}
    return {"key": key, "cx": x, "cy": y, "r": round(r * 0.85, 3)}  # a circle


def timeline(frames: list[dict], *, duration: float, threshold: float, band: float, width: float,
             height: float) -> dict:
    """Frames (``time_seconds``, ``score``, ``track``) as a chart ``width`` x ``height``: the inconclusive band
    shaded, the threshold dashed and labelled, a line per face track, a mark per analysed face."""
    x0, x1, y0, y1 = LEFT, width - RIGHT, 0.0, height - BOTTOM
    end = max(duration or 0.0, max((f["time_seconds"] for f in frames), default=0.0), 0.1)

    def px(t: float) -> float:
        return round(x0 + (x1 - x0) * t / end, 3)

    def py(score: float) -> float:
        return round(y0 + (y1 - y0) * (1 - min(max(score, 0.0), 1.0)), 3)

    step, xticks = nice_step(end), []
    while (t := len(xticks) * step) <= end + 1e-9:
        xticks.append({"x": px(t), "label": f"{t:g} s"})
    tracks: dict[int, list[dict]] = {}
    for frame in sorted(frames, key=lambda f: f["time_seconds"]):
        tracks.setdefault(frame["track"], []).append(frame)
    hi, lo = py(min(1.0, threshold + band)), py(max(0.0, threshold - band))
    return {
        "width": width, "height": height, "x0": x0, "x1": x1, "y0": y0, "y1": y1, "w": x1 - x0,
        "label_x": x0 - 1.5, "tick_end": y1 + 1.0, "band": {"y": hi, "h": round(lo - hi, 3)},
        "yticks": [{"y": py(v), "label": f"{v:.2f}"} for v in (0.0, 0.25, 0.5, 0.75, 1.0)],
        "xticks": xticks,
        "threshold": {"y": py(threshold), "label": f"threshold {threshold:.2f}",
                      "label_y": round(py(threshold) - 1.2 if threshold < 0.88 else py(threshold) + 3.4, 3)},
        "tracks": [" ".join(f"{px(f['time_seconds'])},{py(f['score'])}" for f in points)
                   for points in tracks.values() if len(points) > 1],
        "marks": [_mark(side_of(f["score"], threshold, band), px(f["time_seconds"]), py(f["score"])) for f in frames],
    }
