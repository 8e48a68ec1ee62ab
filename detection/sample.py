"""The front page's sample result: a real run of the current detector on a small clip, rendered by
``manage.py render_sample`` into a picture and a JSON of figures that the front page reads (never a stale
screenshot: rerun the command when the model changes, and the page names the model that made it).

    static/img/sample-result.jpg    the most suspicious analysed frame with its heatmap and face box
    static/img/sample-result.json   verdict, score, threshold, confidence, faces, per-frame scores, model
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from . import verdicts

IMAGE, FIGURES = "sample-result.jpg", "sample-result.json"
CHART_W, CHART_H = 300, 90  # the SVG chart's viewBox


def sample_dir() -> Path:
    return Path(getattr(settings, "SAMPLE_RESULT_DIR", "") or settings.BASE_DIR / "static" / "img")


def sample_render(*, media: str | Path, out: Path, predictor) -> dict:
    """Run ``predictor`` on ``media`` and write the picture and the figures into ``out``; the figures."""
    from .jobs import job_verdict

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sample-") as work:
        prediction = predictor.predict(str(media), heatmap_dir=work, max_heatmaps=4)
        if prediction.status != "ok":
            raise ValueError(f"the detector could not judge {media}: {prediction.error or prediction.status}")
        sizes = [min(f.box[2] - f.box[0], f.box[3] - f.box[1]) for f in prediction.frames]
        verdict = job_verdict(score=prediction.score, threshold=prediction.threshold,
                              faces_found=prediction.faces_found, face_sizes=sizes, clip_parts=prediction.clip_parts)
        pictured = max((f for f in prediction.frames if f.heatmap), key=lambda f: f.score, default=None)
        if pictured is None:
            raise ValueError(f"no heatmap was drawn for {media}")
        shutil.copyfile(pictured.heatmap, out / IMAGE)
    figures = {
        "file": os.path.basename(str(media)), "kind": prediction.kind,
        **verdicts.as_dict(verdict, prediction.score),
        "score": round(float(prediction.score), 4), "threshold": float(prediction.threshold),
        "band": float(settings.RESULT_INCONCLUSIVE_BAND), "faces_found": int(prediction.faces_found),
        "frames": [{"time": round(float(f.time), 3), "score": round(float(f.score), 4)} for f in prediction.frames],
        "pictured": {"time": round(float(pictured.time), 3), "score": round(float(pictured.score), 4)},
        "model_version": prediction.model_version, "rendered_at": timezone.now().isoformat(timespec="seconds"),
    }
    (out / FIGURES).write_text(json.dumps(figures, indent=1) + "\n")
    return figures


def _mark(key: str, x: float, y: float, r: float = 3.5) -> str:
    """An SVG path for one point, shaped like the verdict it reads (verdicts.SHAPES)."""
    if key == verdicts.FAKE:
        return f"M{x},{y - r}L{x + r},{y + r * .8}L{x - r},{y + r * .8}Z"
    if key == verdicts.INCONCLUSIVE:
        return f"M{x},{y - r}L{x + r},{y}L{x},{y + r}L{x - r},{y}Z"
    return f"M{x - r * .8},{y}a{r * .8},{r * .8} 0 1,0 {r * 1.6},0a{r * .8},{r * .8} 0 1,0 {-r * 1.6},0"


def sample_for_page(directory: Path | None = None) -> dict | None:
    """The figures for the front page, with the chart's points and the verdict's icon; None without a sample."""
    try:
        figures = json.loads(((directory or sample_dir()) / FIGURES).read_text())
    except (OSError, ValueError):
        return None
    verdict = verdicts.stored(figures.get("verdict") or "", figures.get("reason") or "")
    frames = figures.get("frames") or []
    span = max((f["time"] for f in frames), default=0.0) or 1.0
    y = lambda score: round(CHART_H * (1 - score), 1)  # noqa: E731 - score 1 at the top
    points = []
    for f in frames:  # each frame's mark in the verdict's shape: triangle fake, diamond inconclusive, circle authentic
        px, py = round(CHART_W * f["time"] / span, 1), y(f["score"])
        key = verdicts.decide(score=f["score"], threshold=figures["threshold"], band=figures["band"]).key
        points.append({"x": px, "y": py, "score": f["score"], "time": f["time"], "key": key, "path": _mark(key, px, py)})
    band_top, band_bottom = y(min(1.0, figures["threshold"] + figures["band"])), y(max(0.0, figures["threshold"] - figures["band"]))
    return {**figures, "verdict_obj": verdict, "points": points, "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
            "threshold_y": y(figures["threshold"]), "band_y": band_top, "band_h": round(band_bottom - band_top, 1),
            "image": f"img/{IMAGE}"}
