"""Queues by work type: long videos go to their own queue, images and short clips to the fast one, from
the browser and the API alike; an image is analysed while long videos wait (here with no worker on the
long queue at all, the worst case). bench/queues.py measures the wait with workers on both."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from api import services as api_services
from detection import queues
from detection.models import DetectionJob, Media

from tests.api_support import private_files_removed  # noqa: F401  (autouse: uploads outlive a test's rows)
from tests.conftest import WORKER_QUEUE, ffmpeg, wait_for_job

LONG_QUEUE = f"{WORKER_QUEUE}-long"


@pytest.fixture
def face_image(clips, tmp_path):
    path = tmp_path / "face.jpg"
    ffmpeg("-ss", "1", "-i", str(clips["face"]), "-frames:v", "1", "-q:v", "3", str(path))
    return path


@pytest.fixture
def long_queue(settings):
    """A long-video queue no worker reads; clips over 1 s count as long."""
    from deepfake_portal.celery import app

    settings.DETECTION_LONG_QUEUE = LONG_QUEUE
    settings.LONG_VIDEO_SECONDS = 1.0
    yield LONG_QUEUE
    with app.connection_for_write() as connection:
        connection.default_channel.client.delete(LONG_QUEUE)


def queued_messages(queue: str) -> list[int]:
    """Job ids of the analysis messages waiting in one Redis queue."""
    import json

    from deepfake_portal.celery import app

    with app.connection_for_write() as connection:
        payloads = connection.default_channel.client.lrange(queue, 0, -1)
    return [json.loads(_body(p))[0][0] for p in payloads]


def _body(payload: bytes) -> str:
    import base64
    import json

    message = json.loads(payload)
    body = message["body"]
    if message.get("properties", {}).get("body_encoding") == "base64":
        body = base64.b64decode(body).decode()
    return body


def test_the_queue_follows_the_work_type(settings):
    settings.DETECTION_QUEUE, settings.DETECTION_LONG_QUEUE, settings.LONG_VIDEO_SECONDS = "fast", "long", 60
    assert queues.queue_for(kind="image", duration=0) == "fast"
    assert queues.queue_for(kind="video", duration=60) == "fast"
    assert queues.queue_for(kind="video", duration=60.5) == "long"


@pytest.mark.worker
def test_an_image_is_not_held_up_by_long_videos(transactional_db, celery_worker, long_queue, clips, face_image,
                                                 owner, owner_client):
    # A long video from the browser and another from the API: both wait on the long queue ...
    response = owner_client.post(reverse("detection:upload"),
                                 {"file": SimpleUploadedFile("long.mp4", clips["face"].read_bytes())})
    assert response.status_code == 302
    browser_video = Media.objects.get(original_name="long.mp4")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_services.token_create(user=owner, name='q').raw}")
    # The same clip with a trailing byte (a different sha256, so it is not deduplicated).
    created = api.post("/api/v1/analyses/", {"file": SimpleUploadedFile(
        "long-api.mp4", clips["face"].read_bytes() + b"\0")}, format="multipart")
    assert created.status_code == 201, created.content
    api_video = Media.objects.get(pk=created.json()["id"])
    assert sorted(queued_messages(long_queue)) == sorted([browser_video.job.pk, api_video.job.pk])

    # ... while an image, from either, goes to the fast queue and is analysed.
    image = api.post("/api/v1/analyses/", {"file": SimpleUploadedFile("face.jpg", face_image.read_bytes())},
                     format="multipart")
    assert image.status_code == 201, image.content
    job = wait_for_job(Media.objects.get(pk=image.json()["id"]).job.pk, celery_worker, timeout=120)
    assert job.status == DetectionJob.Status.DONE, (job.error_code, job.error_message, celery_worker.log_tail())
    for video in (browser_video, api_video):
        assert DetectionJob.objects.get(media=video).status == DetectionJob.Status.QUEUED
    # The sweeper knows the long queue: their messages are pending, so it sends nothing again.
    assert {browser_video.job.pk, api_video.job.pk} <= queues.broker_pending_job_ids()
