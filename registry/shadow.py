"""Shadow scoring: a candidate scores every new job beside the serving model, on a low-priority queue."""
from __future__ import annotations

import logging
import tempfile
import threading

from django.conf import settings
from django.db import IntegrityError

from deepfake_portal.celery import run_task
from detection.detector import load_predictor
from detection.models import DetectionJob
from detection.storage import private_storage

from . import serving
from .models import ModelVersion, ShadowScore

logger = logging.getLogger(__name__)
SHADOW_TASK = "registry.tasks.shadow_score"
_loaded: dict = {"sha256": None, "predictor": None}
_lock = threading.Lock()


def enqueue_for(job_id: int) -> None:
    """A finished job gets a shadow score if a version is in shadow (sent after the serving verdict is stored)."""
    version = ModelVersion.objects.filter(status=ModelVersion.Status.SHADOW).values_list("pk", flat=True).first()
    # The registry's models judge faces: an audio upload (judged by the voice detector, issue 29) gets none.
    if version is not None and DetectionJob.objects.filter(pk=job_id, media__kind="audio").exists():
        return
    if version is not None:
        run_task(SHADOW_TASK, args=(job_id, version), queue=settings.REGISTRY_SHADOW_QUEUE)


def _predictor(version: ModelVersion):
    with _lock:
        if _loaded["sha256"] != version.sha256:
            _loaded.update(predictor=load_predictor(serving.local_file(version)), sha256=version.sha256)
        return _loaded["predictor"]


def score(job_id: int, version_id: int) -> ShadowScore | None:
    """Score the job's media with the shadow version and store it beside the serving score (once per pair)."""
    version = ModelVersion.objects.filter(pk=version_id).first()
    job = DetectionJob.objects.select_related("media").filter(pk=job_id).first()
    if version is None or job is None or ShadowScore.objects.filter(job=job, version=version).exists():
        return None
    score, label, code = None, "", ""
    try:
        predictor = _predictor(version)
        with tempfile.TemporaryDirectory(prefix=f"shadow-{job_id}-") as tmp, \
                private_storage.local_copy(job.media.file.name, directory=tmp) as path:
            prediction = predictor.predict(path, frames=settings.DETECTOR_FRAMES, heatmap_dir=None, max_heatmaps=0)
        if prediction.status == "ok":
            score, label = prediction.score, prediction.label or ""
        else:
            code = prediction.error_code or prediction.status
    except Exception as exc:  # noqa: BLE001 - a shadow failure is recorded and never touches the job
        logger.warning("shadow score of job %s by %s failed: %s", job_id, version.version, exc)
        code = getattr(exc, "code", "internal_error")
    try:
        return ShadowScore.objects.create(job=job, version=version, score=score, label=label[:8], error_code=code[:32])
    except IntegrityError:  # a duplicate message scored it already
        return None
