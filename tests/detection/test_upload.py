"""Uploads rejected before anything is queued: each with a clear form error and nothing stored."""
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detection.models import DetectionJob, Media

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_root(settings, tmp_path):
    """Each test stores under a private root of its own, so "nothing stored" is not confused by files
    other tests (of this module or any other) left in the session's root."""
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    return settings.PRIVATE_MEDIA_ROOT


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


def test_it_requires_login(client, clips):
    """A visitor's GET of / is the front page (tests/portal/test_front_page.py); an upload needs a log-in."""
    response = post(client, "face.mp4", clips["face"].read_bytes())
    assert response.status_code == 302
    assert reverse("login") in response["Location"]
    assert Media.objects.count() == 0


def test_it_rejects_an_empty_file(owner_client, fresh_root):
    assert_rejected(post(owner_client, "empty.mp4", b""), b"The file is empty.", fresh_root)


def test_it_rejects_a_text_file_named_mp4(owner_client, fresh_root):
    response = post(owner_client, "notes.mp4", b"just some text, not a video\n" * 20)
    assert_rejected(response, b"This is not a supported video", fresh_root)


def test_it_rejects_a_truncated_mp4(owner_client, fresh_root, clips):
    data = clips["face"].read_bytes()
    response = post(owner_client, "cut.mp4", data[: len(data) // 2])
    assert_rejected(response, b"damaged or incomplete", fresh_root)


def test_it_rejects_a_file_over_the_size_limit(owner_client, fresh_root, clips, settings):
    settings.UPLOAD_MAX_BYTES = 10_000
    response = post(owner_client, "big.mp4", clips["face"].read_bytes())
    assert_rejected(response, b"larger than", fresh_root)


def test_it_rejects_a_video_over_the_length_limit(owner_client, fresh_root, clips, settings):
    settings.UPLOAD_MAX_SECONDS = 1.0
    response = post(owner_client, "long.mp4", clips["face"].read_bytes())
    assert_rejected(response, b"longer than", fresh_root)


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


# --- the upload page's script: one JSON request per file -------------------------------------

JSON = {"HTTP_ACCEPT": "application/json"}


def post_json(client, name: str, content: bytes):
    return client.post(reverse("detection:upload"), {"file": SimpleUploadedFile(name, content)}, **JSON)


def test_the_page_shows_the_limits_before_choosing(owner_client, settings):
    settings.UPLOAD_MAX_BYTES = 50 * 1024 * 1024
    settings.UPLOAD_MAX_SECONDS = 120
    settings.UPLOADS_PER_HOUR = 7
    page = owner_client.get(reverse("detection:upload")).content.decode()
    limits = page[page.index('id="upload-limits"'):page.index('id="upload-form"')]
    for words in ("50 MB", "2 minutes", "8,000 pixels", "7 files an hour", "mp4, mov, m4v, 3gp, webm, mkv, avi, mpg, ts, flv, wmv, ogv", "jpg, png, webp"):
        assert words in limits, words
    assert 'data-max-bytes="52428800"' in page
    assert "js/upload.js" in page
    # Without the script the plain form still posts one file with its CSRF token.
    assert 'enctype="multipart/form-data"' in page and "csrfmiddlewaretoken" in page
    assert 'type="submit"' in page


def test_a_json_upload_answers_with_its_result_and_status_urls(owner_client, owner, clips):
    response = post_json(owner_client, "face.mp4", clips["face"].read_bytes())
    assert response.status_code == 201
    body = response.json()
    media = Media.objects.get(owner=owner)
    assert body["ok"] is True and body["created"] is True and body["id"] == media.pk
    assert body["result_url"] == reverse("detection:result", args=[media.pk])
    assert body["status_url"] == reverse("detection:status", args=[media.pk])
    assert body["status"]["status"] == DetectionJob.Status.QUEUED and body["status"]["final"] is False
    # The same bytes again: the existing analysis, not a new one.
    again = post_json(owner_client, "again.mp4", clips["face"].read_bytes())
    assert again.status_code == 200 and again.json()["created"] is False and again.json()["id"] == media.pk
    assert Media.objects.count() == 1 and DetectionJob.objects.count() == 1


@pytest.mark.parametrize("name, content, code, words", [
    ("empty.mp4", b"", "empty_file", "The file is empty."),
    ("notes.mp4", b"just some text, not a video\n" * 20, "unsupported_type", "not a supported video"),
])
def test_a_refused_json_upload_says_why_as_json(owner_client, fresh_root, name, content, code, words):
    response = post_json(owner_client, name, content)
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["ok"] is False and words in body["error"]
    assert [e["code"] for e in body["errors"]] == [code]
    assert Media.objects.count() == 0 and stored_files(fresh_root) == []


def test_an_over_limit_json_upload_says_so(owner_client, fresh_root, clips, settings):
    settings.UPLOAD_MAX_BYTES = 10_000
    body = post_json(owner_client, "big.mp4", clips["face"].read_bytes()).json()
    assert "larger than" in body["error"] and body["errors"][0]["code"] == "too_large"
    assert Media.objects.count() == 0 and stored_files(fresh_root) == []


def test_json_uploads_keep_the_rate_limit(owner_client, clips, settings):
    settings.UPLOADS_PER_HOUR = 1
    assert post_json(owner_client, "one.mp4", clips["face"].read_bytes()).status_code == 201
    response = post_json(owner_client, "two.mp4", clips["no_face"].read_bytes())
    assert response.status_code == 400 and "too many files" in response.json()["error"]
    assert Media.objects.count() == 1


def test_json_uploads_need_the_csrf_token(owner, clips):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = post_json(client, "face.mp4", clips["face"].read_bytes())
    assert response.status_code == 403
    assert Media.objects.count() == 0


def test_a_body_cut_short_is_not_stored(owner_client, fresh_root, clips):
    """A cancelled upload: the connection ends before Content-Length bytes arrived."""
    import io

    boundary = "cut-short-boundary"
    data = clips["face"].read_bytes()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"face.mp4\"\r\n"
            f"Content-Type: video/mp4\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    arrived = body[: len(body) * 2 // 3]
    response = owner_client.generic(
        "POST", reverse("detection:upload"), arrived, content_type=f"multipart/form-data; boundary={boundary}",
        CONTENT_LENGTH=str(len(body)), **{"wsgi.input": io.BytesIO(arrived)}, **JSON,
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "required"
    assert "No file arrived" in response.json()["error"]
    assert Media.objects.count() == 0 and stored_files(fresh_root) == []
