"""Result pages, history, deleting and reports, on rows and files made directly (no worker needed)."""
import io
import json
import os
import re
import secrets
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from detection import detector, jobs, report_drawing, reports, verdicts
from detection.models import DetectionJob, FrameResult, Media
from detection.storage import private_storage
from ml.inference.result import AnalysedFrame, Prediction


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
                  created=None, status=DetectionJob.Status.DONE, box=(40, 40, 140, 160), duration=2.0,
                  model_card=None) -> Media:
    """A finished upload with its file, job, frame rows and heatmap files, as the worker leaves it."""
    media = Media.objects.create(
        owner=owner, original_name=name, sha256=secrets.token_hex(32), kind=kind,
        format="mp4" if kind == "video" else "jpg",
        file=_write(f"uploads/{secrets.token_hex(8)}.bin", os.urandom(4096)),
        size=4096, duration=duration if kind == "video" else 0.0, width=640, height=360,
    )
    if created:
        Media.objects.filter(pk=media.pk).update(created=created)
    now = timezone.now()
    job = DetectionJob.objects.create(media=media, status=status)
    if status == DetectionJob.Status.DONE:
        verdict = jobs.job_verdict(score=score, threshold=0.5, faces_found=frames,
                                       face_sizes=[min(box[2] - box[0], box[3] - box[1])])
        DetectionJob.objects.filter(pk=job.pk).update(
            score=score, threshold=0.5, faces_found=frames,
            verdict=verdict.key, verdict_reason=verdict.reason, model_version="test-model-v1", progress=100,
            stage="done",
            model_card=model_card or {"version": "test-model-v1", "training_data": "unit tests", "threshold": 0.5},
            started_at=now, finished_at=now, timings={"decode": 0.1, "faces": 0.2},
        )
        for n in range(frames):
            with_heatmap = n < heatmaps
            FrameResult.objects.create(
                job=job, index=n * 10, time=n * 0.5, x0=box[0], y0=box[1], x1=box[2], y1=box[3],
                score=min(1.0, score + 0.01 * n), track=0,
                heatmap=_write(f"jobs/{job.pk}/h{n}.jpg", _jpeg((200, 80 + 5 * n, 40))) if with_heatmap else "",
                thumbnail=_write(f"jobs/{job.pk}/t{n}.jpg", _jpeg((90, 90, 90 + 5 * n))) if with_heatmap else "",
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
    assert jobs.job_verdict(score=0.75, threshold=0.5, faces_found=1, face_sizes=[100]).key == verdicts.INCONCLUSIVE
    settings.RESULT_INCONCLUSIVE_BAND = 0.1
    assert jobs.job_verdict(score=0.75, threshold=0.5, faces_found=1, face_sizes=[100]).key == verdicts.FAKE


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
    jobs._job_finish(media.job, prediction, model_card=detector.model_card_summary(_FakePredictor()))
    job = DetectionJob.objects.get(pk=media.job.pk)
    assert job.status == DetectionJob.Status.DONE
    assert (job.verdict, job.verdict_reason) == (verdicts.FAKE, "")
    assert job.model_card["version"] == "card-v2" and job.model_card["input_size"] == 128
    assert job.model_card["backend"] == "onnx" and "state" not in job.model_card


def test_a_file_without_a_face_fails_as_inconclusive(db, owner):
    media = make_analysis(owner, status=DetectionJob.Status.RUNNING)
    jobs.job_fail(job_id=media.job.pk, code="no_face", message="No face was found in this file.")
    job = DetectionJob.objects.get(pk=media.job.pk)
    assert (job.status, job.verdict, job.verdict_reason) == ("failed", verdicts.INCONCLUSIVE, verdicts.NO_FACE)
    jobs.job_fail(job_id=make_analysis(owner, status=DetectionJob.Status.RUNNING).job.pk,
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


# A model card as the detector writes it: nested metrics that must never reach the PDF as a dict.
CARD = {
    "version": "sbi-test-v2", "date": "2026-11-26T11:55:55+00:00", "threshold": 0.5, "clip_rule": "lstm",
    "backend": "onnx", "input_size": 128, "frames": 32,
    "training_data": {"source": "../shared/data/train", "pseudo_fakes": "self-blended images"},
    "metrics": {
        "validation": {"frame_auc": 0.73, "clip_metrics_at_threshold": {"confusion": {"tn": 62, "fp": 8}}},
        "test": {"frames_clean": {"n": 1000, "roc_auc": 0.7033, "confusion": {"tn": 499}},
                 "video_clips_shipped": {"n": 145, "roc_auc": 0.6755}},
        "dev": {"video_lstm": {"n": 17, "roc_auc": 0.3167}},
        "dev_robustness": {"clean": {"image_auc": 0.7508, "image_counts": {"ok": 334, "no_face": 36}}},
    },
}


def _tool(*args: str) -> bytes:
    from tests.conftest import require

    require(shutil.which(args[0]) is not None, f"{args[0]} (poppler-utils) is not installed")
    return subprocess.run(args, capture_output=True, check=True, timeout=60).stdout


def _pdf(client, media, tmp_path) -> Path:
    response = client.get(reverse("detection:report_pdf", args=[media.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    path = tmp_path / f"report-{media.pk}.pdf"
    path.write_bytes(response.content)
    return path


def _pages(path: Path) -> int:
    return int(re.search(rb"^Pages:\s+(\d+)", _tool("pdfinfo", str(path)), re.M)[1])


def _text(path: Path, *pages: int) -> str:
    span = ["-f", str(pages[0]), "-l", str(pages[-1])] if pages else []
    return " ".join(_tool("pdftotext", *span, str(path), "-").decode().split())


def _images(path: Path) -> list[dict]:
    """pdfimages -list: one row per image drawn (page, width, height in pixels)."""
    rows = _tool("pdfimages", "-list", str(path)).decode().splitlines()[2:]
    return [{"page": int(r.split()[0]), "width": int(r.split()[3]), "height": int(r.split()[4])} for r in rows]


def test_the_pdf_of_a_typical_clip_is_two_pages_in_words_not_dicts(owner_client, owner, tmp_path):
    # A 9 s clip: 32 analysed frames, heatmaps for the 8 most suspicious faces (the worker's defaults).
    media = make_analysis(owner, score=0.93, name="interview.mp4", frames=32, heatmaps=8, duration=9.0,
                          model_card=CARD)
    path = _pdf(owner_client, media, tmp_path)
    assert _pages(path) <= 2
    text = _text(path)
    assert "{'" not in text and '{"' not in text and "confusion" not in text
    # File facts and sha256, the verdict in words with the confidence the result page shows, and a caveat.
    assert "interview.mp4" in text and media.sha256 in text and "640 x 360" in text and "9.0 s" in text
    assert "Likely fake" in text and "Confidence 93%" in text and "threshold 0.50" in text
    assert "not proof" in text
    # The model in one paragraph, with its headline figures.
    model = text[text.index("The model "):text.index("Every analysed face")]
    assert "sbi-test-v2" in model and "trained 2026-11-26" in model
    for figure in ("0.70 on 1,000 held-out face frames", "0.68 on 145 held-out video clips",
                   "0.75 on 334 independent dev images", "0.32 on 17 independent dev videos"):
        assert figure in model, model
    # Every analysed face is listed, last.
    assert text.rstrip().rsplit("Every analysed face", 1)[1].count(" s ") >= 32


def test_the_pdf_draws_the_score_timeline(owner_client, owner, tmp_path):
    """The chart is drawn, not just titled: its dots show in the rendered page below the heading."""
    media = make_analysis(owner, score=0.93, frames=32, heatmaps=0, duration=9.0)
    path = _pdf(owner_client, media, tmp_path)
    text = _text(path, 1)
    assert "Score over time" in text and "0 s" in text and "threshold 0.50" in text
    bbox = _tool("pdftotext", "-f", "1", "-l", "1", "-bbox", str(path), "-").decode()
    words = re.findall(r'yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)</word>', bbox)
    top = next(float(words[i][1]) for i in range(len(words) - 2)
               if [w[2] for w in words[i:i + 3]] == ["Score", "over", "time"])
    _tool("pdftoppm", "-png", "-r", "72", "-f", "1", "-l", "1", str(path), str(tmp_path / "page"))
    image = Image.open(next(tmp_path.glob("page*.png"))).convert("RGB")
    chart = image.crop((0, int(top), image.width, int(top + 50 * 72 / 25.4)))
    red = sum(1 for r, g, b in chart.getdata() if r > 150 and g < 90 and b < 90)  # dots over the threshold
    assert red > 32 * 3, red
    assert _images(path) == []  # vector lines, no picture


def test_the_pdf_shows_the_most_suspicious_faces_enlarged_with_and_without_heatmaps(owner_client, owner, tmp_path):
    media = make_analysis(owner, score=0.93, frames=32, heatmaps=8, duration=9.0)
    images = _images(_pdf(owner_client, media, tmp_path))
    assert len(images) == 2 * report_drawing.TOP_FACES  # each of the top faces plain and with its heatmap
    assert all(i["width"] == i["height"] == report_drawing.FACE_PIXELS for i in images)


def test_a_face_crop_is_the_face_box_from_the_stored_frame(owner, tmp_path):
    """The stored frames are scaled down; the box is in the original's pixels; the crop keeps the face
    in its middle and enlarges it."""
    media = make_analysis(owner, frames=1, heatmaps=1, box=(300, 120, 380, 220))  # a 640 x 360 original
    frame = media.job.frames.get()
    small = Image.new("RGB", (320, 180), (90, 90, 90))
    small.paste((0, 200, 0), (150, 60, 190, 110))  # the face box at half size, in green
    buffer = io.BytesIO()
    small.save(buffer, format="PNG")
    _write(frame.thumbnail.name, buffer.getvalue())
    plain, heat = report_drawing._face_crops(frame, media)
    assert plain.size == heat.size == (report_drawing.FACE_PIXELS, report_drawing.FACE_PIXELS)
    centre = plain.getpixel((report_drawing.FACE_PIXELS // 2, report_drawing.FACE_PIXELS // 2))
    assert centre[1] > 150 and centre[0] < 60, centre
    corner = plain.getpixel((3, 3))
    assert abs(corner[0] - 90) < 20 and abs(corner[1] - 90) < 20, corner  # context around the face


def test_a_long_table_runs_past_two_pages_only_at_the_end(owner_client, owner, tmp_path):
    media = make_analysis(owner, score=0.93, frames=240, heatmaps=8, duration=120.0, model_card=CARD)
    path = _pdf(owner_client, media, tmp_path)
    pages = _pages(path)
    assert pages > 2
    first_two = _text(path, 1, 2)
    assert "Score over time" in first_two and "The most suspicious faces" in first_two
    assert "The model" in first_two and "Every analysed face" in first_two
    rest = _text(path, 3, pages)
    assert "Time Face Score" in rest and "suspicious" not in rest and "The model" not in rest


def test_the_model_paragraph_reads_whatever_the_card_holds():
    assert reports.headline_figures({}) == []
    paragraph = reports.model_paragraph({"version": "v0", "metrics": {"validation": {"frame_auc": 0.61}}})
    assert "version v0" in paragraph and "0.61 on validation face frames" in paragraph
    assert "{" not in reports.model_paragraph(CARD) and "calibrated" not in reports.model_paragraph(CARD)
    calibrated = {**CARD, "calibration": {"method": "temperature scaling", "temperature": 1.7, "bias": 0.2}}
    assert "Scores are calibrated" in reports.model_paragraph(calibrated)
    assert "{" not in reports.model_paragraph(calibrated)


def test_a_failed_job_still_has_reports(owner_client, owner):
    media = make_analysis(owner, status=DetectionJob.Status.RUNNING)
    jobs.job_fail(job_id=media.job.pk, code="corrupt_media", message="The file is damaged.")
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


def test_headline_figures_read_the_clip_detectors_card():
    """The CLIP detector's card keeps one block per split and kind (ml.training.clip_train); the report reads them."""
    metrics = {"test_video": {"auc": 0.8626, "n": 98}, "dev_image": {"auc": 0.9421, "n": 334},
               "dev_video": {"auc": 0.676, "n": 42}, "dev_th_video": {"auc": 0.847, "n": 64}}
    figures = reports.headline_figures({"metrics": metrics, "clip_rule": "topk_frames"})
    assert figures == ["0.86 on 98 held-out video clips", "0.94 on 334 independent dev images",
                       "0.68 on 42 independent dev videos", "0.85 on 64 videos of talking-head generators it never saw"]
