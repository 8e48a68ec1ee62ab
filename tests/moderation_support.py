"""Jobs made straight in the database for moderation tests (no worker needed), and the moderator personas."""
from __future__ import annotations

import io
import secrets
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.utils import timezone

from detection import jobs
from detection.models import DetectionJob, FrameResult, Media
from detection.storage import private_storage

from tests.conftest import TEST_PASSWORD


def verdict_of(score: float, threshold: float = 0.5):
    """The verdict a job with this score gets (the band from settings, one big face)."""
    return jobs.job_verdict(score=score, threshold=threshold, faces_found=1, face_sizes=[200])


def make_user(username: str, *, role: str | None = None, staff: bool = False) -> User:
    user = User.objects.create_user(username=username, email=f"{username}@example.com", password=TEST_PASSWORD,
                                    is_staff=staff)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def make_job(owner, *, score: float | None = 0.95, threshold: float = 0.5, status: str = "done",
             verdict: str | None = None, model_version: str = "model-a", error_code: str = "",
             queued_at=None, seconds: float = 10.0, frames: int = 1, kind: str = "video") -> DetectionJob:
    """A finished (or failed) job with a real file in private storage and ``frames`` frame rows."""
    data = secrets.token_bytes(64)
    fmt = "mp4" if kind == "video" else "jpg"
    name = f"uploads/{secrets.token_hex(8)}.{fmt}"
    private_storage.save(name, io.BytesIO(data))
    media = Media.objects.create(owner=owner, original_name=f"clip-{secrets.token_hex(3)}.{fmt}",
                                 sha256=secrets.token_hex(32), kind=kind, format=fmt, file=name, size=len(data),
                                 width=320, height=240)
    if verdict is None and status == "done" and score is not None:
        verdict = verdict_of(score, threshold).key
    job = DetectionJob.objects.create(
        media=media, status=status, score=score if status == "done" else None, threshold=threshold,
        verdict=verdict or "", model_version=model_version, error_code=error_code, progress=100,
    )
    queued_at = queued_at or timezone.now() - timedelta(minutes=5)
    DetectionJob.objects.filter(pk=job.pk).update(
        queued_at=queued_at, started_at=queued_at + timedelta(seconds=1),
        finished_at=queued_at + timedelta(seconds=1 + seconds),
    )
    for index in range(frames if status == "done" else 0):
        heatmap = private_storage.save(f"jobs/{job.pk}/h{index}.jpg", io.BytesIO(b"\xff\xd8heatmap"))
        FrameResult.objects.create(job=job, index=index, time=index / 25, x0=0, y0=0, x1=10, y1=10,
                                   score=score or 0.0, heatmap=heatmap)
    job.refresh_from_db()
    return job
