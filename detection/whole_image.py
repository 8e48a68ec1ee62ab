"""The whole-picture evidence of a photo without a face: run the probe, keep its reading, word it.

A photo in which the face detector finds no face (a landscape, a product shot, AI art without people, or
a face the detector misses) is read as a whole picture by ``ml.inference.whole_image``: "the whole
picture looks AI-generated" or "looks camera-made". Its reading takes part in the verdict like any other
evidence (``detection.evidence.combine``); when it cannot judge, the row says why, and every surface (result
page, PDF, JSON report, API) shows the same sentence from ``whole_image_data``.
"""
from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist

from . import evidence, verdicts
from .models import EvidenceStatus, WholeImageEvidence

logger = logging.getLogger(__name__)

READINGS = {
    verdicts.FAKE: "The whole picture looks AI-generated",
    verdicts.AUTHENTIC: "The whole picture looks camera-made",
    verdicts.INCONCLUSIVE: "The whole picture is too close to call",
}
NOT_JUDGED = "The whole picture could not be judged"
REASONS = {
    "too_small": "the picture is under 64 pixels on its shorter side.",
    "unreadable": "the picture could not be decoded.",
    "no_probe": "the whole-picture check is not installed on this server.",
    "error": "the whole-picture check failed on this file.",
}

_loaded: dict = {}
_lock = threading.Lock()


def _judge(predictor=None):
    """The probe, loaded once per process (per probe file); it shares the face detector's CLIP encoder when that
    runs in torch, else the first one built."""
    path = str(settings.WHOLE_IMAGE_PROBE)
    with _lock:
        if path not in _loaded:
            from ml.inference.whole_image import WholeImageJudge

            encoder = getattr(getattr(getattr(predictor, "scorer", None), "model", None), "encoder", None)
            built = next((judge._encoder for judge in _loaded.values() if judge._encoder is not None), None)
            _loaded[path] = WholeImageJudge.load(path, encoder=encoder or built)
        return _loaded[path]


def wanted(*, kind: str, prediction) -> bool:
    """Only images in which no face was found are read as a whole picture (faces are the face detector's)."""
    return kind == "image" and getattr(prediction, "status", None) == "no_face"


def whole_image_analyse(*, job, path: str, prediction, predictor=None, progress=None,
                        passthrough: tuple = ()) -> WholeImageEvidence | None:
    """Read an image without a face as a whole and store (replace) the job's row; None when not wanted.
    Never raises except ``passthrough`` (the worker's time limit)."""
    if not wanted(kind=job.media.kind, prediction=prediction):
        return None
    if progress:
        progress("whole_image", 60)
    fields: dict = {"status": EvidenceStatus.ERROR, "reason_code": "error", "reason": REASONS["error"]}
    try:
        result = _judge(predictor).judge(path)
        ok = result.status == "ok"
        fields = {"status": EvidenceStatus.OK if ok else (EvidenceStatus.SKIPPED if result.status == "skipped"
                                                          else EvidenceStatus.ERROR),
                  "reason_code": "" if ok else result.reason_code,
                  "reason": "" if ok else REASONS.get(result.reason_code, REASONS["error"]),
                  "score": result.score, "threshold": result.threshold, "model_version": result.version[:64]}
    except passthrough:
        raise
    except FileNotFoundError:  # no probe file, or no CLIP wheel to rebuild the encoder from
        logger.warning("job %s: whole-picture check unavailable", job.pk, exc_info=True)
        fields.update(status=EvidenceStatus.SKIPPED, reason_code="no_probe", reason=REASONS["no_probe"])
    except Exception:  # a broken probe must not take the job with it
        logger.exception("job %s: whole-picture check failed", job.pk)
    row, _ = WholeImageEvidence.objects.update_or_create(job=job, defaults=fields)
    return row


def reading(row) -> str:
    """The row in words, the same on every surface: its reading, or why it could not judge."""
    if row is None:
        return ""
    read = evidence.read(evidence.WHOLE_IMAGE, row, band=settings.RESULT_INCONCLUSIVE_BAND)
    if read is None:
        return f"{NOT_JUDGED}: {row.reason or REASONS['error']}"
    return READINGS[read.verdict.key]


def whole_image_data(job) -> dict | None:
    """The whole-picture evidence as JSON (page, PDF, report, API); None when the picture was not read whole."""
    try:
        row = job.whole_image
    except ObjectDoesNotExist:
        return None
    read = evidence.read(evidence.WHOLE_IMAGE, row, band=settings.RESULT_INCONCLUSIVE_BAND)
    return {
        "reading": reading(row),
        "judged": read is not None,
        "verdict": read.verdict.key if read else None,
        **evidence.row_fields(row),
        "model_version": row.model_version or None,
    }
