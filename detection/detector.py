"""The detector this process runs: the serving checkpoint, loaded once, and what a job records of it."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

_loaded: dict = {"key": None, "predictor": None}
_lock = threading.Lock()


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint that serves: ``key`` names its bytes (a sha256), ``fetch`` puts the file on this machine
    (it may download it; raises ``errors.ModelUnavailable`` when it cannot)."""

    key: str
    fetch: Callable[[], Path]


def _embedded() -> Checkpoint | None:
    return None  # nobody said: the embedded DETECTOR_CHECKPOINT serves


_serving = {"source": _embedded}


def serve_from(source: Callable[[], Checkpoint | None]) -> None:
    """Name who says which checkpoint serves (asked at every job; None means the embedded
    DETECTOR_CHECKPOINT). The registry app, above this one, names its serving version at start-up."""
    _serving["source"] = source


def load_predictor(path):
    """A Predictor for a checkpoint file, with this deployment's backend and defences."""
    from ml.inference import Predictor

    started = time.monotonic()
    predictor = Predictor.load(path, backend=settings.DETECTOR_BACKEND, purify=settings.DETECTOR_PURIFY)
    logger.info("loaded detector %s from %s in %.1f s", predictor.model_version, path, time.monotonic() - started)
    return predictor


def get_predictor():
    """The serving detector, kept loaded between jobs.

    The serving checkpoint (``serve_from``: the registry's serving version) is asked for at every job, so
    a promotion or a rollback is noticed at the next job without a restart; none means the embedded
    DETECTOR_CHECKPOINT. Raises ``errors.ModelUnavailable`` when the serving version's file is missing or
    is not its sha256: the job fails with that code and the model loaded before stays loaded.
    """
    checkpoint = _serving["source"]()
    key = checkpoint.key if checkpoint is not None else f"embedded:{settings.DETECTOR_CHECKPOINT}"
    with _lock:
        if _loaded["key"] != key:
            path = checkpoint.fetch() if checkpoint is not None else settings.DETECTOR_CHECKPOINT
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
