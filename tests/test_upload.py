"""Uploads rejected before anything is queued: each with a clear form error and nothing stored."""
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detection.models import DetectionJob, Media

pytestmark = pytest.mark.django_db


def stored_files(root) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files]


def post(client, name: str, content: bytes):
    return client.post(reverse("detection:upload"), {"file": SimpleUploadedFile(name, content)})


def assert_rejected(response, message: bytes, root):
    assert response.status_code == 400
    assert message in response.content
    assert Media.objects.count() == 0
    assert DetectionJob.objects.count() == 0
    assert stored_files(root) == []


def test_it_requires_login(client):
    response = client.get(reverse("detection:upload"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_it_rejects_an_empty_file(owner_client, private_media_root):
    assert_rejected(post(owner_client, "empty.mp4", b""), b"The file is empty.", private_media_root)


def test_it_rejects_a_text_file_named_mp4(owner_client, private_media_root):
    response = post(owner_client, "notes.mp4", b"just some text, not a video\n" * 20)
    assert_rejected(response, b"This is not a supported video", private_media_root)


def test_it_rejects_a_truncated_mp4(owner_client, private_media_root, clips):
    data = clips["face"].read_bytes()
    response = post(owner_client, "cut.mp4", data[: len(data) // 2])
    assert_rejected(response, b"damaged or incomplete", private_media_root)


def test_it_rejects_a_file_over_the_size_limit(owner_client, private_media_root, clips, settings):
    settings.UPLOAD_MAX_BYTES = 10_000
    response = post(owner_client, "big.mp4", clips["face"].read_bytes())
    assert_rejected(response, b"larger than", private_media_root)


def test_it_rejects_a_video_over_the_length_limit(owner_client, private_media_root, clips, settings):
    settings.UPLOAD_MAX_SECONDS = 1.0
    response = post(owner_client, "long.mp4", clips["face"].read_bytes())
    assert_rejected(response, b"longer than", private_media_root)


def test_it_accepts_a_video_by_content_not_name(owner_client, owner, clips):
    response = post(owner_client, "../../odd name!.txt", clips["face"].read_bytes())
    assert response.status_code == 302
    media = Media.objects.get(owner=owner)
    assert media.kind == "video" and media.format == "mp4"
    assert media.original_name == "odd_name.txt"
    assert media.job.status == DetectionJob.Status.QUEUED
    assert "odd" not in media.file.name and media.file.name.startswith("uploads/")
    assert os.path.isfile(media.file.path)
    assert response["Location"] == reverse("detection:result", args=[media.pk])


def test_it_limits_uploads_per_hour(owner_client, clips, settings):
    settings.UPLOADS_PER_HOUR = 1
    assert post(owner_client, "one.mp4", clips["face"].read_bytes()).status_code == 302
    response = post(owner_client, "two.mp4", clips["no_face"].read_bytes())
    assert response.status_code == 400
    assert b"too many files" in response.content
    assert Media.objects.count() == 1


def test_it_returns_the_existing_analysis_for_the_same_content(owner_client, owner, clips):
    first = post(owner_client, "a.mp4", clips["face"].read_bytes())
    second = post(owner_client, "b.mp4", clips["face"].read_bytes())
    assert first["Location"] == second["Location"]
    assert Media.objects.filter(owner=owner).count() == 1
    assert DetectionJob.objects.count() == 1


def test_same_content_from_another_user_gets_its_own_analysis(owner_client, outsider_client, clips):
    post(owner_client, "a.mp4", clips["face"].read_bytes())
    post(outsider_client, "a.mp4", clips["face"].read_bytes())
    assert Media.objects.count() == 2
