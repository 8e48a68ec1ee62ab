"""Reads for pages. Every query is scoped to its owner: nobody reads another user's media."""
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from .models import DetectionJob, FrameResult, Media

STAGE_LABELS = {
    "queued": "Waiting in the queue",
    "starting": "Loading the detector",
    "reading_frames": "Reading frames",
    "finding_faces": "Finding faces",
    "scoring": "Scoring",
    "heatmaps": "Drawing heatmaps",
    "done": "Done",
    "failed": "Failed",
}


def media_list_for_user(user: AbstractBaseUser) -> QuerySet[Media]:
    return Media.objects.filter(owner=user).select_related("job")


def media_count_for_user(user: AbstractBaseUser) -> int:
    return Media.objects.filter(owner=user).count()


def frame_list_for_user(user: AbstractBaseUser) -> QuerySet[FrameResult]:
    return FrameResult.objects.filter(job__media__owner=user)


def job_status(job: DetectionJob) -> dict:
    """The small JSON the result page polls."""
    return {
        "status": job.status,
        "stage": job.stage,
        "stage_label": STAGE_LABELS.get(job.stage, job.stage.replace("_", " ").capitalize()),
        "progress": job.progress,
        "final": job.is_final,
        "label": job.label or None,
        "score": job.score,
        "threshold": job.threshold,
        "model_version": job.model_version or None,
        "error_code": job.error_code or None,
        "error_message": job.error_message or None,
    }
