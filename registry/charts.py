"""Geometry of the health page's serving-vs-shadow pictures, as inline SVG units (no Django, no JavaScript)."""
from __future__ import annotations

from collections.abc import Sequence

SIDE, PAD = 260, 40  # a square scatter: serving score across, shadow score up
BAR_W, BAR_H = 320, 110


def agreement_scatter(pairs: Sequence[dict], *, serving_threshold: float = 0.5, shadow_threshold: float = 0.5) -> dict:
    """Each job a dot at (serving score, shadow score); dots off the agreeing quadrants are the disagreements."""
    size = SIDE - 2 * PAD

    def x(v: float) -> float:
        return round(PAD + size * min(max(v, 0.0), 1.0), 1)

    def y(v: float) -> float:
        return round(SIDE - PAD - size * min(max(v, 0.0), 1.0), 1)

    dots = [{"x": x(p["serving"]), "y": y(p["shadow"]), "agree": p["agree"], "reviewed": bool(p.get("truth")),
             "title": f"job {p['job']}: serving {p['serving']:.2f}, shadow {p['shadow']:.2f}"
                      + (f", moderators: {p['truth']}" if p.get("truth") else "")} for p in pairs]
    disagree = sum(1 for p in pairs if not p["agree"])
    return {
        "side": SIDE, "size": size, "x0": PAD, "x1": SIDE - PAD, "y0": PAD, "y1": SIDE - PAD,
        "tx": x(serving_threshold), "ty": y(shadow_threshold), "dots": dots,
        "ticks": [{"v": f"{v:g}", "x": x(v), "y": y(v)} for v in (0, 0.5, 1)],
        "description": f"{len(pairs)} jobs scored by both models; they disagree on {disagree}.",
    }


def accuracy_bars(serving: float | None, shadow: float | None, n: int) -> dict | None:
    """Two bars: each model's share right on the items moderators reviewed since."""
    if not n:
        return None
    left, top, width, height = 70, 10, BAR_W - 110, 30
    bars = []
    for row, (name, value) in enumerate((("serving", serving or 0.0), ("shadow", shadow or 0.0))):
        bars.append({"name": name, "x": left, "y": top + row * (height + 15), "w": round(width * value, 1), "h": height,
                     "label": f"{value:.0%}", "lx": round(left + width * value + 6, 1), "ly": top + row * (height + 15) + 20})
    return {"width": BAR_W, "height": BAR_H, "bars": bars, "full": left + width,
            "description": f"On {n} reviewed items: serving right {serving:.0%}, shadow right {shadow:.0%}."}
