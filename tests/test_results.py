"""Result pages, history, deleting and reports, on rows and files made directly (no worker needed)."""
import io
import json
import os
import secrets
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from detection import services, verdicts
from detection.models import DetectionJob, FrameResult, Media
from detection.storage import private_storage
from ml.result import AnalysedFrame, Prediction


@pytest.fixture(autouse=True)
def own_private_root(settings, tmp_path):
    """Each test writes its files under its own root, so no other test sees them."""
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    return settings.PRIVATE_MEDIA_ROOT


def _write(name: str, data: bytes) -> str:
    path = private_storage.path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    return name


def _jpeg(colour=(200, 80, 40), size=(320, 240)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def make_analysis(owner, *, score=0.9, name="clip.mp4", kind="video", frames=3, heatmaps=2,
                  created=None, status=DetectionJob.Status.DONE, box=(40, 40, 140, 160)) -> Media:
    """A finished upload with its file, job, frame rows and heatmap files, as the worker leaves it."""
    media = Media.objects.create(
        owner=owner, original_name=name, sha256=secrets.token_hex(32), kind=kind,
        format="mp4" if kind == "video" else "jpg",
        file=_write(f"uploads/{secrets.token_hex(8)}.bin", os.urandom(4096)),
        size=4096, duration=2.0 if kind == "video" else 0.0, width=640, height=360,
    )
    if created:
        Media.objects.filter(pk=media.pk).update(created=created)
    now = timezone.now()
    job = DetectionJob.objects.create(media=media, status=status)
    if status == DetectionJob.Status.DONE:
        verdict = services.job_verdict(score=score, threshold=0.5, faces_found=frames,
                                       face_sizes=[min(box[2] - box[0], box[3] - box[1])])
        DetectionJob.objects.filter(pk=job.pk).update(
            score=score, threshold=0.5, label="fake" if score >= 0.5 else "real", faces_found=frames,
            verdict=verdict.key, verdict_reason=verdict.reason, model_version="test-model-v1", progress=100,
            stage="done", model_card={"version": "test-model-v1", "training_data": "unit tests", "threshold": 0.5},
            started_at=now, finished_at=now, timings={"decode": 0.1, "faces": 0.2},
        )
        for n in range(frames):
            with_heatmap = n < heatmaps
            FrameResult.objects.create(
                job=job, index=n * 10, time=n * 0.5, x0=box[0], y0=box[1], x1=box[2], y1=box[3],
                score=min(1.0, score + 0.01 * n), track=0,
                heatmap=_write(f"jobs/{job.pk}/h{n}.jpg", _jpeg()) if with_heatmap else "",
                thumbnail=_write(f"jobs/{job.pk}/t{n}.jpg", _jpeg((90, 90, 90))) if with_heatmap else "",
            )
    media.refresh_from_db()
    return media


# --- the verdict in words ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "score, expected, reason",
    [
        (0.95, verdicts.FAKE, ""),
        (0.61, verdicts.FAKE, ""),
        (0.59, verdicts.INCONCLUSIVE, verdicts.NEAR_THRESHOLD),
        (0.50, verdicts.INCONCLUSIVE, verdicts.NEAR_THRESHOLD),
        (0.41, verdicts.INCONCLUSIVE, verdicts.NEAR_THRESHOLD),
        (0.39, verdicts.AUTHENTIC, ""),
        (0.02, verdicts.AUTHENTIC, ""),
    ],
)
def test_it_bands_scores_around_the_threshold(score, expected, reason):
    verdict = verdicts.verdict_for_score(score=score, threshold=0.5, band=0.1)
    assert (verdict.key, verdict.reason) == (expected, reason)
    assert verdict.words in ("Likely fake", "Likely authentic", "Inconclusive") and verdict.icon


def test_it_is_always_inconclusive_without_a_face_or_with_tiny_faces():
    no_face = verdicts.verdict_for_score(score=None, threshold=0.5, band=0.1, faces_found=0)
    assert (no_face.key, no_face.reason) == (verdicts.INCONCLUSIVE, verdicts.NO_FACE)
    tiny = verdicts.verdict_for_score(score=0.99, threshold=0.5, band=0.1, face_sizes=[20, 24, 30], min_face_px=40)
    assert (tiny.key, tiny.reason) == (verdicts.INCONCLUSIVE, verdicts.LOW_QUALITY)
    assert "small" in tiny.explanation


def test_confidence_is_in_the_direction_of_the_verdict():
    fake = verdicts.verdict_for_score(score=0.9, threshold=0.5, band=0.1)
    real = verdicts.verdict_for_score(score=0.2, threshold=0.5, band=0.1)
    unsure = verdicts.verdict_for_score(score=0.55, threshold=0.5, band=0.1)
    assert verdicts.confidence(score=0.9, verdict=fake) == pytest.approx(0.9)
    assert verdicts.confidence(score=0.2, verdict=real) == pytest.approx(0.8)
    assert verdicts.confidence(score=0.55, verdict=unsure) is None


def test_the_band_comes_from_settings(settings):
    settings.RESULT_INCONCLUSIVE_BAND = 0.3
    assert services.job_verdict(score=0.75, threshold=0.5, faces_found=1, face_sizes=[100]).key == verdicts.INCONCLUSIVE
    settings.RESULT_INCONCLUSIVE_BAND = 0.1
    assert services.job_verdict(score=0.75, threshold=0.5, faces_found=1, face_sizes=[100]).key == verdicts.FAKE


class _FakePredictor:
    backend = "onnx"
    card = {"version": "card-v2", "date": "2026-11-01", "threshold": 0.5, "training_data": "faces",
            "metrics": {"auc": 0.9}, "preprocessing": {"input_size": 128, "frames": 32}, "state": "not copied"}


def test_a_finished_job_stores_its_verdict_and_model_card(db, owner, tmp_path):
    media = make_analysis(owner, status=DetectionJob.Status.RUNNING)
    DetectionJob.objects.filter(pk=media.job.pk).update(status=DetectionJob.Status.RUNNING)
    heatmap = tmp_path / "h.jpg"
    heatmap.write_bytes(_jpeg())
    prediction = Prediction(
        path="x", kind="video", status="ok", score=0.93, label="fake", threshold=0.5, model_version="card-v2",
        frames=[AnalysedFrame(index=3, time=0.1, box=(10, 10, 110, 130), score=0.93, heatmap=str(heatmap),
                              thumbnail=str(heatmap))],
        faces_found=1,
    )
    services._job_finish(media.job, prediction, model_card=services.model_card_summary(_FakePredictor()))
    job = DetectionJob.objects.get(pk=media.job.pk)
    assert job.status == DetectionJob.Status.DONE
    assert (job.verdict, job.verdict_reason) == (verdicts.FAKE, "")
    assert job.model_card["version"] == "card-v2" and job.model_card["input_size"] == 128
    assert job.model_card["backend"] == "onnx" and "state" not in job.model_card


def test_a_file_without_a_face_fails_as_inconclusive(db, owner):
    media = make_analysis(owner, status=DetectionJob.Status.RUNNING)
    services.job_fail(job_id=media.job.pk, code="no_face", message="No face was found in this file.")
    job = DetectionJob.objects.get(pk=media.job.pk)
    assert (job.status, job.verdict, job.verdict_reason) == ("failed", verdicts.INCONCLUSIVE, verdicts.NO_FACE)
    services.job_fail(job_id=make_analysis(owner, status=DetectionJob.Status.RUNNING).job.pk,
                      code="corrupt_media", message="damaged")
    assert DetectionJob.objects.get(error_code="corrupt_media").verdict == ""


# --- the result page --------------------------------------------------------------------------


def test_the_result_page_shows_verdict_timeline_and_heatmaps(owner_client, owner):
    media = make_analysis(owner, score=0.92, frames=4, heatmaps=2)
    page = owner_client.get(reverse("detection:result", args=[media.pk])).content.decode()
    assert "Likely fake" in page and "test-model-v1" in page and "92% sure" in page
    timeline = json.loads(page.split('id="timeline-data" type="application/json">')[1].split("</script>")[0])
    assert [p["time"] for p in timeline] == [0.0, 0.5, 1.0, 1.5]
    assert page.count('class="frame-button"') == 2
    assert "not proof" in page and 'id="overlay-toggle"' in page
    assert reverse("detection:report_pdf", args=[media.pk]) in page


def test_an_inconclusive_result_says_why(owner_client, owner):
    media = make_analysis(owner, score=0.55)
    page = owner_client.get(reverse("detection:result", args=[media.pk])).content.decode()
    assert "Inconclusive" in page and "too close" in page


def test_an_image_result_shows_the_image_and_its_faces(owner_client, owner):
    media = make_analysis(owner, kind="image", name="photo.jpg", frames=2, heatmaps=2)
    page = owner_client.get(reverse("detection:result", args=[media.pk])).content.decode()
    assert 'id="source-image"' in page and 'id="player"' not in page
    assert page.count("Face ") >= 2


# --- history ----------------------------------------------------------------------------------


def test_history_sorts_by_date_score_and_verdict(owner_client, owner, django_assert_max_num_queries):
    start = timezone.now() - timedelta(days=1)
    for n, score in enumerate([0.1, 0.95, 0.55, 0.7]):
        make_analysis(owner, score=score, name=f"clip{n}.mp4", created=start + timedelta(minutes=n))
    running = make_analysis(owner, name="running.mp4", status=DetectionJob.Status.RUNNING,
                            created=start + timedelta(minutes=10))

    def names(sort):
        with django_assert_max_num_queries(8):
            response = owner_client.get(reverse("detection:history"), {"sort": sort})
        return [m.original_name for m in response.context["media_list"]]

    assert names("-date") == ["running.mp4", "clip3.mp4", "clip2.mp4", "clip1.mp4", "clip0.mp4"]
    assert names("date") == ["clip0.mp4", "clip1.mp4", "clip2.mp4", "clip3.mp4", "running.mp4"]
    assert names("-score") == ["clip1.mp4", "clip3.mp4", "clip2.mp4", "clip0.mp4", "running.mp4"]
    assert names("score") == ["clip0.mp4", "clip2.mp4", "clip3.mp4", "clip1.mp4", "running.mp4"]
    # Likely fake first (highest score first within), then inconclusive, authentic, unfinished.
    assert names("verdict") == ["clip1.mp4", "clip3.mp4", "clip2.mp4", "clip0.mp4", "running.mp4"]
    assert names("nonsense") == names("-date")
    page = owner_client.get(reverse("detection:history")).content.decode()
    assert "Likely fake" in page and "Likely authentic" in page and "Inconclusive" in page
    assert reverse("detection:frame_file", args=[FrameResult.objects.filter(job__media__original_name="clip1.mp4")
                                                .exclude(thumbnail="").order_by("-score").first().pk,
                                                "thumbnail"]) in page
    assert running.pk  # listed without a thumbnail
    assert "no-thumb" in page


def test_history_is_paginated(owner_client, owner, settings):
    settings.HISTORY_PAGE_SIZE = 3
    start = timezone.now() - timedelta(days=1)
    for n in range(7):
        make_analysis(owner, name=f"c{n}.mp4", frames=1, heatmaps=0, created=start + timedelta(minutes=n))
    first = owner_client.get(reverse("detection:history"))
    assert [m.original_name for m in first.context["media_list"]] == ["c6.mp4", "c5.mp4", "c4.mp4"]
    assert "Page 1 of 3" in first.content.decode()
    third = owner_client.get(reverse("detection:history"), {"page": 3, "sort": "date"})
    assert [m.original_name for m in third.context["media_list"]] == ["c6.mp4"]
    past_the_end = owner_client.get(reverse("detection:history"), {"page": 99})
    assert [m.original_name for m in past_the_end.context["media_list"]] == ["c0.mp4"]


def test_history_lists_only_the_users_own_uploads(outsider_client, owner):
    make_analysis(owner, name="private-clip.mp4")
    assert b"private-clip.mp4" not in outsider_client.get(reverse("detection:history")).content


# --- delete -----------------------------------------------------------------------------------


def test_deleting_an_upload_removes_its_files_and_rows(owner_client, owner, django_capture_on_commit_callbacks):
    media = make_analysis(owner, heatmaps=2)
    job = media.job
    files = [media.file.path] + [
        private_storage.path(name)
        for pair in FrameResult.objects.filter(job=job).values_list("heatmap", "thumbnail") for name in pair if name
    ]
    assert len(files) == 5 and all(os.path.exists(path) for path in files)
    kept = make_analysis(owner, name="kept.mp4")

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("detection:delete", args=[media.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("detection:history")
    assert not Media.objects.filter(pk=media.pk).exists()
    assert not DetectionJob.objects.filter(pk=job.pk).exists()
    assert not FrameResult.objects.filter(job_id=job.pk).exists()
    assert not any(os.path.exists(path) for path in files)
    assert not os.path.exists(private_storage.path(f"jobs/{job.pk}"))
    assert os.path.exists(kept.file.path) and FrameResult.objects.filter(job=kept.job).exists()


def test_delete_needs_a_post(owner_client, owner):
    media = make_analysis(owner)
    assert owner_client.get(reverse("detection:delete", args=[media.pk])).status_code == 405
    assert Media.objects.filter(pk=media.pk).exists()


def test_delete_needs_the_csrf_token(owner, client):
    from django.test import Client

    media = make_analysis(owner)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert strict.post(reverse("detection:delete", args=[media.pk])).status_code == 403
    assert Media.objects.filter(pk=media.pk).exists()


def test_the_outsider_gets_404_on_reports_and_delete(outsider_client, owner):
    media = make_analysis(owner)
    for name in ("report_json", "report_pdf"):
        assert outsider_client.get(reverse(f"detection:{name}", args=[media.pk])).status_code == 404
    assert outsider_client.post(reverse("detection:delete", args=[media.pk])).status_code == 404
    assert Media.objects.filter(pk=media.pk).exists() and os.path.exists(media.file.path)


# --- reports ----------------------------------------------------------------------------------


def test_the_json_report_holds_file_verdict_frames_model_and_times(owner_client, owner):
    media = make_analysis(owner, score=0.2, name="talk.mp4", frames=3)
    response = owner_client.get(reverse("detection:report_json", args=[media.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"] and "talk-report.json" in response["Content-Disposition"]
    report = json.loads(response.content)
    assert report["file"]["name"] == "talk.mp4" and report["file"]["sha256"] == media.sha256
    assert report["analysis"]["verdict"] == "authentic" and report["analysis"]["verdict_words"] == "Likely authentic"
    assert report["analysis"]["score"] == pytest.approx(0.2) and report["analysis"]["confidence"] == pytest.approx(0.8)
    assert [f["time_seconds"] for f in report["frames"]] == [0.0, 0.5, 1.0]
    assert report["frames"][0]["face_box"] == [40, 40, 140, 160] and report["frames"][0]["has_heatmap"]
    assert report["model"]["version"] == "test-model-v1" and report["model"]["training_data"] == "unit tests"
    assert report["times"]["finished_at"] and report["times"]["stage_seconds"] == {"decode": 0.1, "faces": 0.2}


def test_the_pdf_report_is_a_pdf_with_the_heatmaps_in_it(owner_client, owner):
    media = make_analysis(owner, heatmaps=2)
    response = owner_client.get(reverse("detection:report_pdf", args=[media.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert response.content.count(b"/Subtype /Image") == 2


def test_a_failed_job_still_has_reports(owner_client, owner):
    media = make_analysis(owner, status=DetectionJob.Status.RUNNING)
    services.job_fail(job_id=media.job.pk, code="corrupt_media", message="The file is damaged.")
    report = owner_client.get(reverse("detection:report_json", args=[media.pk])).json()
    assert report["analysis"]["status"] == "failed" and report["analysis"]["error_message"] == "The file is damaged."
    assert owner_client.get(reverse("detection:report_pdf", args=[media.pk])).content.startswith(b"%PDF-")


# --- the upload, streamed with Range for the video player ---------------------------------------


def test_the_video_file_answers_range_requests(owner_client, outsider_client, owner):
    media = make_analysis(owner)
    data = open(media.file.path, "rb").read()
    url = reverse("detection:media_file", args=[media.pk])

    whole = owner_client.get(url)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
    part = owner_client.get(url, HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert b"".join(part.streaming_content) == data[100:200]
    open_ended = owner_client.get(url, HTTP_RANGE="bytes=4000-")
    assert b"".join(open_ended.streaming_content) == data[4000:]
    suffix = owner_client.get(url, HTTP_RANGE="bytes=-10")
    assert b"".join(suffix.streaming_content) == data[-10:]
    assert owner_client.get(url, HTTP_RANGE=f"bytes={len(data)}-").status_code == 416
    assert outsider_client.get(url, HTTP_RANGE="bytes=0-9").status_code == 404
