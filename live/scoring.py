"""Score one live frame with the serving detector: in a Celery worker or a pool process, never the ASGI loop.

The frame goes through the Predictor exactly as an uploaded image does (faces found, aligned, scored,
calibrated, a heatmap drawn), so a live score means what an upload's score means. The answer is a small
JSON-friendly dict: the most suspicious face's score and box in the frame's pixels, and that face's heatmap
as a small JPEG (base64).
"""
from __future__ import annotations

import base64
import logging
import os
import tempfile
import time

import cv2
from django.conf import settings
from PIL import Image

from ml import errors as ml_errors
from ml.media.decode import Limits

logger = logging.getLogger(__name__)

HEATMAP_SIDE = 160  # the heatmap sent back: the face and some margin, at most this many pixels a side
BAD_FRAME_CODES = {ml_errors.EMPTY_FILE, ml_errors.UNSUPPORTED_TYPE, ml_errors.CORRUPT_MEDIA, ml_errors.TOO_LARGE}


def warm_up() -> None:
    """Load the detector now (a pool process's initializer, so the first frame does not wait for it)."""
    import django

    django.setup()
    _predictor()


def _predictor():
    # The workers' own loader: the registry's serving version (noticed at once when it changes), one per process.
    from detection.detector import get_predictor

    return get_predictor()


def score_frame(jpeg: bytes, queued_at: float, stale_after: float) -> dict:
    """``queued_at``: time.time() when the socket handed the frame over; a frame that waited longer than
    ``stale_after`` seconds (the socket's LIVE_STALE_SECONDS) is dropped unscored: its answer would come too
    late to mean anything."""
    waited = time.time() - queued_at
    if waited > stale_after:
        return {"status": "dropped", "reason": "stale", "waited_ms": round(waited * 1000)}
    started = time.perf_counter()
    predictor = _predictor()
    limits = Limits(max_bytes=settings.LIVE_MAX_FRAME_BYTES, max_seconds=1.0, max_side=settings.LIVE_MAX_FRAME_SIDE)
    with tempfile.TemporaryDirectory(prefix="live-frame-") as folder:
        path = os.path.join(folder, "frame.jpg")
        with open(path, "wb") as fh:
            fh.write(jpeg)
        prediction = predictor.predict(path, heatmap_dir=folder, max_heatmaps=1, limits=limits)
        answer = {"model_version": prediction.model_version, "threshold": prediction.threshold,
                  "score_ms": round((time.perf_counter() - started) * 1000), "waited_ms": round(waited * 1000)}
        if prediction.status == "no_face":
            return {**answer, "status": "no_face"}
        if prediction.status != "ok":
            if prediction.error_code in BAD_FRAME_CODES:
                return {**answer, "status": "bad_frame", "message": prediction.error}
            return {**answer, "status": "error"}
        face = max(prediction.frames, key=lambda f: f.score)
        shown = next((f for f in prediction.frames if f.heatmap), None)
        return {**answer, "status": "ok", "score": prediction.score, "box": list(face.box),
                "faces": len(prediction.frames), "heatmap": _face_heatmap(shown, path) if shown else ""}


def _face_heatmap(face, frame_path: str) -> str:
    """The face's part of the heatmap image the Predictor drew, small, as base64 JPEG."""
    heat = cv2.imread(face.heatmap)
    with Image.open(frame_path) as frame:
        scale = heat.shape[1] / frame.size[0]  # the drawing may be smaller than the frame (at most 640 px)
    x0, y0, x1, y1 = (v * scale for v in face.box)
    margin = 0.25 * max(x1 - x0, y1 - y0)
    h, w = heat.shape[:2]
    crop = heat[max(0, int(y0 - margin)):min(h, int(y1 + margin)), max(0, int(x0 - margin)):min(w, int(x1 + margin))]
    if crop.size == 0:
        crop = heat
    factor = min(1.0, HEATMAP_SIDE / max(crop.shape[:2]))
    if factor < 1:
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor))),
                          interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return base64.b64encode(data.tobytes()).decode() if ok else ""
