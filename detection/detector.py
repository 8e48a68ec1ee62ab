"""The detector this process runs: loaded once, and what a job records of its model card."""
from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

logger = logging.getLogger(__name__)

_predictor = None
_predictor_lock = threading.Lock()


def get_predictor():
    """The detector, loaded once per process and kept for every later job."""
    global _predictor
    with _predictor_lock:
        if _predictor is None:
            from ml.inference import Predictor

            started = time.monotonic()
            _predictor = Predictor.load(settings.DETECTOR_CHECKPOINT, backend=settings.DETECTOR_BACKEND,
                                        purify=settings.DETECTOR_PURIFY)
            logger.info(
                "loaded detector %s from %s in %.1f s",
                _predictor.model_version,
                settings.DETECTOR_CHECKPOINT,
                time.monotonic() - started,
            )
        return _predictor


def model_card_summary(predictor) -> dict:
    """What reports need from the model card: small, and kept on the job that the model ran."""
    card = getattr(predictor, "card", None) or {}
    keys = ("version", "date", "git_commit", "threshold", "training_data", "metrics", "clip_rule", "calibration")
    summary = {key: card[key] for key in keys if key in card}
    pre = card.get("preprocessing") or {}
    summary["input_size"] = pre.get("input_size")
    summary["frames"] = pre.get("frames")
    summary["backend"] = getattr(predictor, "backend", "")
    return summary
