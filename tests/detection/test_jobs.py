"""The detection pipeline end to end: test client upload -> Redis -> real Celery worker -> rows and files."""
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detection import detector, jobs
from detection.models import DetectionJob, FrameResult, Media
from tests.conftest import wait_for_job


def upload(client, path) -> Media:
    response = client.post(reverse("detection:upload"), {"file": SimpleUploadedFile(path.name, path.read_bytes())})
    assert response.status_code == 302, response.content[-2000:]
    return Media.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))


@pytest.mark.worker
def test_a_real_worker_analyses_uploads(transactional_db, celery_worker, clips, owner_client, outsider_client):
    # A bad one first: a clip with no face fails with a clear reason ...
    no_face = upload(owner_client, clips["no_face"])
    job = wait_for_job(no_face.job.pk, celery_worker)
    assert job.status == DetectionJob.Status.FAILED
    assert job.error_code == "no_face"
    assert "No face" in job.error_message
    assert job.frames.count() == 0
    page = owner_client.get(reverse("detection:result", args=[no_face.pk]))
    assert b"No face" in page.content

    # ... and the same worker goes on to analyse a real face clip.
    media = upload(owner_client, clips["face"])
    job = wait_for_job(media.job.pk, celery_worker)
    assert job.status == DetectionJob.Status.DONE, (job.error_code, job.error_message, celery_worker.log_tail())
    assert job.progress == 100 and job.attempts == 1
    assert job.verdict in ("fake", "authentic", "inconclusive") and 0.0 <= job.score <= 1.0
    assert job.model_version and job.threshold is not None
    assert job.faces_found > 0 and job.timings
    assert job.started_at and job.finished_at and job.queued_at <= job.started_at <= job.finished_at
    frames = list(job.frames.all())
    assert frames and all(f.x1 > f.x0 and f.y1 > f.y0 and 0.0 <= f.score <= 1.0 for f in frames)
    heatmaps = [f for f in frames if f.heatmap]
    assert heatmaps
    for frame in heatmaps:
        assert os.path.isfile(frame.heatmap.path)
        with open(frame.heatmap.path, "rb") as fh:
            assert fh.read(3) == b"\xff\xd8\xff"  # JPEG

    # The owner sees the verdict, the status JSON and the files ...
    page = owner_client.get(reverse("detection:result", args=[media.pk]))
    assert b"Verdict" in page.content and job.model_version.encode() in page.content
    status = owner_client.get(reverse("detection:status", args=[media.pk])).json()
    assert status["status"] == "done" and status["final"] and status["verdict"] == job.verdict and "label" not in status
    heatmap = owner_client.get(reverse("detection:frame_file", args=[heatmaps[0].pk, "heatmap"]))
    assert heatmap.status_code == 200 and heatmap["Content-Type"] == "image/jpeg"
    original = owner_client.get(reverse("detection:media_file", args=[media.pk]))
    assert b"".join(original.streaming_content) == clips["face"].read_bytes()
    history = owner_client.get(reverse("detection:history"))
    assert media.original_name.encode() in history.content

    # ... the outsider gets 404 for every one of them and sees none of it in their history.
    for url in (
        reverse("detection:result", args=[media.pk]),
        reverse("detection:status", args=[media.pk]),
        reverse("detection:media_file", args=[media.pk]),
        reverse("detection:frame_file", args=[heatmaps[0].pk, "heatmap"]),
        reverse("detection:frame_file", args=[heatmaps[0].pk, "thumbnail"]),
    ):
        assert outsider_client.get(url).status_code == 404, url
    assert media.original_name.encode() not in outsider_client.get(reverse("detection:history")).content

    # Uploading the same content again returns the same analysis and runs nothing new.
    again = upload(owner_client, clips["face"])
    assert again.pk == media.pk
    assert DetectionJob.objects.count() == 2

    # A duplicate message for a finished job does nothing.
    jobs.job_run(job_id=job.pk)
    assert FrameResult.objects.filter(job=job).count() == len(frames)
    assert celery_worker.alive()


@pytest.mark.django_db
def test_a_duplicate_claim_does_nothing(owner, clips):
    media = Media.objects.create(owner=owner, original_name="x.mp4", sha256="0" * 64, kind="video", format="mp4",
                                 file="uploads/none.mp4", size=1, width=1, height=1)
    job = DetectionJob.objects.create(media=media, status=DetectionJob.Status.RUNNING, attempts=1)
    jobs.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == DetectionJob.Status.RUNNING and job.attempts == 1


@pytest.mark.django_db
def test_an_unexpected_error_fails_the_job_with_internal_error(owner, monkeypatch, caplog):
    media = Media.objects.create(owner=owner, original_name="x.mp4", sha256="1" * 64, kind="video", format="mp4",
                                 file="uploads/none.mp4", size=1, width=1, height=1)
    job = DetectionJob.objects.create(media=media)

    def broken_predictor():
        raise RuntimeError("checkpoint unreadable")

    monkeypatch.setattr(detector, "get_predictor", broken_predictor)
    jobs.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == DetectionJob.Status.FAILED
    assert job.error_code == "internal_error"
    assert "went wrong on our side" in job.error_message
    assert "checkpoint unreadable" in caplog.text  # the traceback goes to the log, not the page


@pytest.mark.django_db
def test_a_job_left_running_by_a_dead_worker_is_claimed_again_and_bounded(owner, monkeypatch, settings):
    from datetime import timedelta

    from django.utils import timezone

    media = Media.objects.create(owner=owner, original_name="x.mp4", sha256="2" * 64, kind="video", format="mp4",
                                 file="uploads/none.mp4", size=1, width=1, height=1)
    long_ago = timezone.now() - timedelta(seconds=settings.DETECTION_HARD_TIME_LIMIT + 120)
    job = DetectionJob.objects.create(media=media, status=DetectionJob.Status.RUNNING, attempts=1, started_at=long_ago)
    claims = []
    monkeypatch.setattr(jobs, "_analyse", lambda job: claims.append(job.pk))
    jobs.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert claims == [job.pk] and job.attempts == 2

    DetectionJob.objects.filter(pk=job.pk).update(attempts=jobs.MAX_ATTEMPTS, started_at=long_ago)
    jobs.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert claims == [job.pk]
    assert job.status == DetectionJob.Status.FAILED and job.error_code == "internal_error"
