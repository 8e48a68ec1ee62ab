"""The analyses endpoints: upload through the same service as the browser, JSON errors, owner-only reads."""
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from detection.models import DetectionJob, Media
from tests.api_support import (  # noqa: F401
    api_token,
    fresh_throttle_counts,
    private_files_removed,
    outsider_api,
    owner_api,
    payload,
    signature_is_valid,
    webhook_receiver,
)
from tests.conftest import wait_for_job

LIST = "/api/v1/analyses/"


def detail(pk: int) -> str:
    return f"/api/v1/analyses/{pk}/"


def create(client, name: str, content: bytes, **fields):
    return client.post(LIST, {"file": SimpleUploadedFile(name, content), **fields}, format="multipart")


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/problem+json")
    problem = response.json()  # RFC 9457
    assert problem["code"] == code and problem["detail"] and problem["status"] == status
    assert problem["type"] == f"urn:deepfake-portal:problem:{code}" and problem["title"]
    return problem


@pytest.mark.django_db
class TestBadUploads:
    """Each rejection has the code the browser path stores, and nothing is stored or queued."""

    def assert_nothing_stored(self, root):
        assert Media.objects.count() == 0 and DetectionJob.objects.count() == 0
        assert [f for _, _, files in os.walk(root) for f in files] == []

    def test_an_empty_file(self, owner_api, private_media_root):
        assert_error(create(owner_api, "empty.mp4", b""), 400, "empty_file")
        self.assert_nothing_stored(private_media_root)

    def test_a_text_file_named_mp4(self, owner_api, private_media_root):
        assert_error(create(owner_api, "notes.mp4", b"not a video\n" * 50), 400, "unsupported_type")
        self.assert_nothing_stored(private_media_root)

    def test_a_truncated_video(self, owner_api, private_media_root, clips):
        data = clips["face"].read_bytes()
        assert_error(create(owner_api, "cut.mp4", data[: len(data) // 2]), 400, "corrupt_media")
        self.assert_nothing_stored(private_media_root)

    def test_a_file_over_the_size_limit(self, owner_api, private_media_root, clips, settings):
        settings.UPLOAD_MAX_BYTES = 10_000
        assert_error(create(owner_api, "big.mp4", clips["face"].read_bytes()), 413, "too_large")
        self.assert_nothing_stored(private_media_root)

    def test_a_video_over_the_length_limit(self, owner_api, private_media_root, clips, settings):
        settings.UPLOAD_MAX_SECONDS = 1.0
        assert_error(create(owner_api, "long.mp4", clips["face"].read_bytes()), 400, "too_long")
        self.assert_nothing_stored(private_media_root)

    def test_no_file_at_all(self, owner_api):
        error = assert_error(owner_api.post(LIST, {}, format="multipart"), 400, "invalid")
        assert "file" in error["errors"]

    def test_a_private_callback_url_is_refused_by_default(self, owner_api, private_media_root, clips, settings):
        assert settings.WEBHOOK_ALLOW_PRIVATE is False  # the default
        for url in ("http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://169.254.169.254/latest",
                    "http://[::1]/hook", "http://localhost/hook", "ftp://example.com/hook"):
            response = create(owner_api, "a.mp4", clips["face"].read_bytes(), callback_url=url)
            assert_error(response, 400, "unsafe_callback_url")
        self.assert_nothing_stored(private_media_root)

    def test_the_hourly_upload_limit(self, owner_api, clips, settings):
        settings.UPLOADS_PER_HOUR = 1
        assert create(owner_api, "one.mp4", clips["face"].read_bytes()).status_code == 201
        assert_error(create(owner_api, "two.mp4", clips["no_face"].read_bytes()), 429, "rate_limited")


@pytest.mark.django_db
def test_it_creates_lists_filters_and_deduplicates(owner_api, outsider_api, owner, clips):
    response = create(owner_api, "face.mp4", clips["face"].read_bytes())
    assert response.status_code == 201
    first = response.json()
    assert first["status"] == "queued" and first["final"] is False and first["frames"] == []
    assert response["Location"].endswith(detail(first["id"]))
    again = create(owner_api, "same.mp4", clips["face"].read_bytes())
    assert again.status_code == 200 and again.json()["id"] == first["id"]  # the same analysis back
    second = create(owner_api, "gradient.mp4", clips["no_face"].read_bytes()).json()

    listing = owner_api.get(LIST).json()
    assert listing["count"] == 2 and [a["id"] for a in listing["results"]] == [second["id"], first["id"]]
    assert owner_api.get(LIST, {"page_size": 1, "page": 2}).json()["results"][0]["id"] == first["id"]
    DetectionJob.objects.filter(media_id=first["id"]).update(status="done", verdict="fake", score=0.9)
    assert [a["id"] for a in owner_api.get(LIST, {"status": "done"}).json()["results"]] == [first["id"]]
    assert [a["id"] for a in owner_api.get(LIST, {"verdict": "fake"}).json()["results"]] == [first["id"]]
    assert owner_api.get(LIST, {"verdict": "authentic"}).json()["count"] == 0
    assert_error(owner_api.get(LIST, {"status": "bogus"}), 400, "invalid")
    assert outsider_api.get(LIST).json()["count"] == 0


@pytest.mark.django_db
def test_the_outsider_gets_404_for_everything(owner_api, outsider_api, clips):
    analysis = create(owner_api, "face.mp4", clips["face"].read_bytes()).json()
    for method, url in (("get", detail(analysis["id"])), ("delete", detail(analysis["id"])),
                        ("get", detail(analysis["id"]) + "report/"), ("get", detail(10**9))):
        assert_error(getattr(outsider_api, method)(url), 404, "not_found")
    assert Media.objects.filter(pk=analysis["id"]).exists()


@pytest.mark.django_db
def test_report_waits_for_the_end_and_delete_refuses_a_running_job(owner_api, clips):
    analysis = create(owner_api, "face.mp4", clips["face"].read_bytes()).json()
    assert_error(owner_api.get(detail(analysis["id"]) + "report/"), 409, "not_finished")
    DetectionJob.objects.filter(media_id=analysis["id"]).update(status="running")
    assert_error(owner_api.delete(detail(analysis["id"])), 409, "job_running")


@pytest.mark.worker
def test_an_analysis_end_to_end_through_the_real_worker(
    transactional_db, celery_worker, clips, owner, owner_api, outsider_api, webhook_receiver, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # for this test's own receiver on 127.0.0.1 (the worker has it too)
    response = create(owner_api, "face.mp4", clips["face"].read_bytes(), callback_url=webhook_receiver.url)
    assert response.status_code == 201, response.content
    analysis = response.json()
    assert analysis["webhook"] == {"url": webhook_receiver.url, "state": "waiting", "attempts": 0}
    job = wait_for_job(Media.objects.get(pk=analysis["id"]).job.pk, celery_worker)
    assert job.status == DetectionJob.Status.DONE, (job.error_code, celery_worker.log_tail())

    # get: the verdict, score, model version and per-frame scores with heatmap links
    result = owner_api.get(detail(analysis["id"])).json()
    assert result["status"] == "done" and result["progress"] == 100 and result["final"]
    assert "label" not in result and result["verdict"] in ("fake", "authentic", "inconclusive")
    assert 0.0 <= result["score"] <= 1.0
    assert result["model_version"] == job.model_version and result["error_code"] is None
    assert result["frames"] and all(len(f["box"]) == 4 and 0 <= f["score"] <= 1 for f in result["frames"])
    heatmap_url = next(f["heatmap_url"] for f in result["frames"] if f["heatmap_url"])
    assert heatmap_url.startswith("http://testserver/frames/")

    # list and report
    assert [a["id"] for a in owner_api.get(LIST, {"status": "done"}).json()["results"]] == [analysis["id"]]
    report = owner_api.get(detail(analysis["id"]) + "report/")
    assert report.status_code == 200
    assert report["Content-Disposition"] == f'attachment; filename="analysis-{analysis["id"]}.json"'
    body = report.json()
    assert body["timings"] and body["frames"] == result["frames"] and body["sha256"] == job.media.sha256

    # the webhook: delivered by the worker, signed with the owner's secret, recorded
    assert webhook_receiver.received.wait(60), celery_worker.log_tail()
    from api.services import webhook_secret_for

    hook = webhook_receiver.requests[-1]
    assert signature_is_valid(webhook_secret_for(user=owner).secret, hook)
    assert payload(hook)["event"] == "analysis.done" and payload(hook)["analysis"]["id"] == analysis["id"]
    assert payload(hook)["analysis"]["score"] == result["score"]
    webhook = job.webhook
    webhook.refresh_from_db()
    assert webhook.state == "delivered" and webhook.attempts == 1
    assert [(d.attempt, d.status_code, d.succeeded) for d in webhook.deliveries.all()] == [(1, 200, True)]

    # delete: the rows and the files go; the outsider could not have done it
    assert_error(outsider_api.delete(detail(analysis["id"])), 404, "not_found")
    paths = [job.media.file.path] + [f.heatmap.path for f in job.frames.all() if f.heatmap]
    assert owner_api.delete(detail(analysis["id"])).status_code == 204
    assert_error(owner_api.get(detail(analysis["id"])), 404, "not_found")
    assert not Media.objects.filter(pk=analysis["id"]).exists()
    assert not any(os.path.exists(p) for p in paths)
