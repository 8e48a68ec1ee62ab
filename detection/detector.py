"""The detector this process runs: the registry's serving version, loaded once, and what a job records of it."""
from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

from registry import serving

logger = logging.getLogger(__name__)

_loaded: dict = {"key": None, "predictor": None}
_lock = threading.Lock()


def load_predictor(path):
    """A Predictor for a checkpoint file, with this deployment's backend and defences."""
    from ml.inference import Predictor

    started = time.monotonic()
    predictor = Predictor.load(path, backend=settings.DETECTOR_BACKEND, purify=settings.DETECTOR_PURIFY)
    logger.info("loaded detector %s from %s in %.1f s", predictor.model_version, path, time.monotonic() - started)
    return predictor


def get_predictor():
    """The serving detector, kept loaded between jobs.

    The registry's serving version is read at every job, so a promotion or a rollback is noticed at the
    next job without a restart; an empty registry means the embedded DETECTOR_CHECKPOINT. Raises
    ``errors.ModelUnavailable`` when the serving version's file is missing or is not its sha256: the job
    fails with that code and the model loaded before stays loaded.
    """
    version = serving.serving_version()
    key = version.sha256 if version is not None else f"embedded:{settings.DETECTOR_CHECKPOINT}"
    with _lock:
        if _loaded["key"] != key:
            path = serving.local_file(version) if version is not None else settings.DETECTOR_CHECKPOINT
            _loaded.update(predictor=load_predictor(path), key=key)
        return _loaded["predictor"]


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
