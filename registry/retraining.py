"""Retraining: reviewed items plus base data -> a candidate trained by ml's own code, registered with its card."""
from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import Callable

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from deepfake_portal.celery import run_task

from . import gate, serving, versions
from .models import ModelEvent, ModelVersion, RetrainRun

logger = logging.getLogger(__name__)
RETRAIN_TASK = "registry.tasks.retrain"


def start(*, actor: AbstractBaseUser | None, minutes: float) -> RetrainRun:
    """Queue a retraining on the long queue (admin's "start a retraining"); the run row shows its progress."""
    run = RetrainRun.objects.create(minutes=minutes, created_by=actor)
    versions.audit(action=ModelEvent.Action.RETRAIN, version=versions.serving_version(), actor=actor, run=run.pk,
                   minutes=minutes)
    run_task(RETRAIN_TASK, args=(run.pk,), queue=settings.DETECTION_LONG_QUEUE)
    return run


def base_items() -> list:
    """Up to RETRAIN_BASE_LIMIT items of the base training data (RETRAIN_BASE_ITEMS), a fixed sample."""
    if not settings.RETRAIN_BASE_ITEMS:
        return []
    from ml.items import read_items

    items = read_items(settings.RETRAIN_BASE_ITEMS)
    random.Random(0).shuffle(items)
    return items[: settings.RETRAIN_BASE_LIMIT]


class _RowProgress:
    """Writes stage and percent to the run's row, at most once a second (and on each stage change)."""

    def __init__(self, run: RetrainRun, also: Callable[[str, float], None] | None):
        self.run, self.also, self.stage, self.at = run, also, "", 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        if self.also is not None:
            self.also(stage, fraction)
        now = time.monotonic()
        if stage == self.stage and now - self.at < 1.0:
            return
        self.stage, self.at = stage, now
        RetrainRun.objects.filter(pk=self.run.pk).update(stage=stage[:32], progress=max(0, min(99, int(fraction * 100))))


def run(run_id: int, *, progress: Callable[[str, float], None] | None = None) -> ModelVersion:
    """Train a candidate for the run: warm-started from the serving model, features cached in
    REGISTRY_WORK_DIR (a rerun resumes), bounded by the run's minutes; registers it as a candidate."""
    from ml.training.retrain import retrain

    row = RetrainRun.objects.get(pk=run_id)
    RetrainRun.objects.filter(pk=run_id).update(status=RetrainRun.Status.RUNNING, stage="starting", progress=0, message="")
    work_dir = Path(settings.REGISTRY_WORK_DIR)
    try:
        current = versions.serving_version()
        warm_start = serving.local_file(current) if current is not None else Path(settings.DETECTOR_CHECKPOINT)
        reviewed = gate.reviewed_items(work_dir, gate=False)
        items = reviewed + base_items()
        if not reviewed:
            raise ValueError("There are no reviewed items to learn from (the held-out share goes to the gate).")
        out = work_dir / "candidates" / f"run-{run_id}.pt"
        out.parent.mkdir(parents=True, exist_ok=True)
        card = retrain(items, warm_start=warm_start, out=out, work_dir=work_dir, minutes=row.minutes,
                       progress=_RowProgress(row, progress))
        candidate = versions.register(out, actor=row.created_by, source="retrained")
    except Exception as exc:
        logger.exception("retrain run %s failed", run_id)
        RetrainRun.objects.filter(pk=run_id).update(status=RetrainRun.Status.FAILED, stage="failed",
                                                    message=str(exc)[:2000], finished_at=timezone.now())
        raise
    RetrainRun.objects.filter(pk=run_id).update(
        status=RetrainRun.Status.DONE, stage="done", progress=100, candidate=candidate, finished_at=timezone.now(),
        message=f"Candidate {candidate.version}: trained on {len(reviewed)} reviewed and {len(items) - len(reviewed)} "
                f"base items in {card.get('minutes', '?')} min.")
    return candidate
