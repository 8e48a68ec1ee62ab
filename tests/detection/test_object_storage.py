"""Object storage (PRIVATE_STORAGE=s3) against a real S3 server over HTTP: moto's server mode, its own
process (`make test` starts it like Redis; else this module starts one). Nothing is patched in-process.

The worker here runs on "another host" (bench/remote_host.py): its own copy of the repository, no
PRIVATE_MEDIA_ROOT, and (as root) its own host name with the web server's folders and this checkout
covered by empty mounts. It can only get an upload from the bucket and only return results through it.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from bench import remote_host, s3server
from detection import deletion, intake, jobs, queues, sweeping
from detection.models import DetectionJob, FrameResult, Media
from detection.storage import private_storage

from tests.conftest import WorkerProcess, _test_database_url, require, wait_for_job

REMOTE_QUEUE = f"test-remote-{os.getpid()}-{uuid.uuid4().hex[:6]}"


# --- the S3 server and bucket -------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint():
    wanted = os.environ.get("S3_TEST_ENDPOINT_URL", "")
    if wanted:
        require(s3server.answers(wanted), f"no S3 server answers at S3_TEST_ENDPOINT_URL={wanted}")
        yield wanted
        return
    require(s3server._moto_server() is not None, "moto_server is not installed (pip install 'moto[server]')")
    endpoint, process = s3server.start_server()
    yield endpoint
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=20)


@pytest.fixture(scope="session")
def bucket(s3_endpoint):
    name = f"portal-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    s3server.create_bucket(s3_endpoint, name)
    yield name
    s3server.delete_bucket(s3_endpoint, name)


@pytest.fixture
def s3(settings, s3_endpoint, bucket, tmp_path):
    """This process (the web server) stores in the bucket; its local folder must stay empty."""
    for key, value in s3server.env(s3_endpoint, bucket).items():
        setattr(settings, key, value)
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "web-private"
    settings.PRIVATE_MEDIA_ROOT.mkdir()
    assert not private_storage.is_local
    yield type("S3", (), {"endpoint": s3_endpoint, "bucket": bucket,
                          "names": staticmethod(lambda prefix="": s3server.names(s3_endpoint, bucket, prefix))})
    assert list(settings.PRIVATE_MEDIA_ROOT.iterdir()) == []  # nothing was written locally
    client = s3server.client(s3_endpoint)
    for key in s3server.names(s3_endpoint, bucket):  # each test starts with an empty bucket
        client.delete_object(Bucket=bucket, Key=key)


def local_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# --- the worker on the other host ---------------------------------------------------------------


@pytest.fixture(scope="module")
def remote_worker(django_db_setup, django_db_blocker, tmp_path_factory, s3_endpoint, bucket):
    from django.conf import settings
    from django.db import connection

    broker = os.environ.get("CELERY_BROKER_URL", "")
    require(broker.startswith("redis://"), "CELERY_BROKER_URL must point at Redis for worker tests")
    require(connection.vendor == "mysql", "worker tests need MariaDB/MySQL (DATABASE_URL=mysql://...)")
    with django_db_blocker.unblock():
        database_url = _test_database_url(connection.settings_dict)
    # The other host's copy lives outside pytest's folders, which are hidden from it.
    host_dir = Path(tempfile.mkdtemp(prefix="portal-host2-"))
    copy = remote_host.make_copy(host_dir / "portal")
    log_path = tmp_path_factory.mktemp("host2-log") / "worker.log"
    env = remote_host.worker_env(
        os.environ,
        DATABASE_URL=database_url, CELERY_BROKER_URL=broker,
        CELERY_QUEUE=REMOTE_QUEUE, CELERY_LONG_QUEUE=REMOTE_QUEUE,
        SECRET_KEY=settings.SECRET_KEY, DEBUG="0", DETECTOR_FRAMES=os.environ.get("DETECTOR_FRAMES", "8"),
        JOB_HEARTBEAT_SECONDS="1",
        **s3server.env(s3_endpoint, bucket),
    )
    hide = [Path(settings.PRIVATE_MEDIA_ROOT), Path(str(tmp_path_factory.getbasetemp()))]
    argv = remote_host.worker_argv(copy, queue=REMOTE_QUEUE, name=REMOTE_QUEUE, hide=hide)
    log = open(log_path, "wb")
    process = subprocess.Popen(argv, cwd=copy, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    worker = WorkerProcess(process, log_path)
    worker.copy = copy
    deadline = time.monotonic() + 120
    while b" ready." not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            pytest.fail(f"the other host's worker did not start:\n{worker.log_tail()}")
        time.sleep(0.3)
    yield worker
    worker.stop()
    log.close()
    shutil.rmtree(host_dir, ignore_errors=True)


@pytest.fixture
def to_remote(settings):
    """Jobs this process enqueues go to the other host's queue (both work types)."""
    settings.DETECTION_QUEUE = settings.DETECTION_LONG_QUEUE = REMOTE_QUEUE


def upload(client, path: Path, name: str | None = None) -> Media:
    response = client.post(reverse("detection:upload"),
                           {"file": SimpleUploadedFile(name or path.name, path.read_bytes())})
    assert response.status_code == 302, response.content[-2000:]
    return Media.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))


# --- tests --------------------------------------------------------------------------------------


@pytest.mark.worker
def test_a_worker_on_another_host_analyses_an_upload_through_the_bucket(
        transactional_db, s3, remote_worker, to_remote, clips, owner_client, outsider_client):
    media = upload(owner_client, clips["face"])
    assert s3.names("uploads/") == [media.file.name]  # the upload went to the bucket, nowhere else

    job = wait_for_job(media.job.pk, remote_worker)
    assert job.status == DetectionJob.Status.DONE, (job.error_code, job.error_message, remote_worker.log_tail())
    if remote_host.namespaces_available():
        assert job.claimed_by.startswith(f"{remote_host.HOSTNAME}:"), job.claimed_by  # it ran on the other host
    assert job.heartbeat_at is not None
    # The worker kept nothing on its host: no private folder in its copy, no download left behind.
    assert local_files(remote_worker.copy / "var") == []

    # Every result file is an object, and every object is named by a row.
    frames = list(job.frames.all())
    stored = {f.heatmap.name for f in frames if f.heatmap} | {f.thumbnail.name for f in frames if f.thumbnail}
    assert stored and set(s3.names(f"jobs/{job.pk}/")) == stored

    # The result page shows the verdict; the owner-checked views stream the objects.
    page = owner_client.get(reverse("detection:result", args=[media.pk]))
    assert b"Verdict" in page.content and job.model_version.encode() in page.content
    heatmap = next(f for f in frames if f.heatmap)
    response = owner_client.get(reverse("detection:frame_file", args=[heatmap.pk, "heatmap"]))
    body = b"".join(response.streaming_content)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg" and body[:3] == b"\xff\xd8\xff"
    assert body == heatmap.heatmap.open("rb").read()
    thumbnail = owner_client.get(reverse("detection:frame_file", args=[heatmap.pk, "thumbnail"]))
    assert thumbnail.status_code == 200 and b"".join(thumbnail.streaming_content) == heatmap.thumbnail.open("rb").read()
    for url in (reverse("detection:media_file", args=[media.pk]),
                reverse("detection:frame_file", args=[heatmap.pk, "heatmap"])):
        assert outsider_client.get(url).status_code == 404

    # The video player's Range requests: whole file, a slice, the tail, and one past the end.
    data = clips["face"].read_bytes()
    url = reverse("detection:media_file", args=[media.pk])
    whole = owner_client.get(url)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
    assert int(whole["Content-Length"]) == len(data) and b"".join(whole.streaming_content) == data
    part = owner_client.get(url, HTTP_RANGE="bytes=100-1099")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-1099/{len(data)}"
    assert b"".join(part.streaming_content) == data[100:1100]
    tail = owner_client.get(url, HTTP_RANGE="bytes=-500")
    assert tail.status_code == 206 and b"".join(tail.streaming_content) == data[-500:]
    assert owner_client.get(url, HTTP_RANGE=f"bytes={len(data)}-").status_code == 416

    # The PDF report embeds heatmaps read back from the bucket.
    pdf = owner_client.get(reverse("detection:report_pdf", args=[media.pk]))
    assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"

    # Deleting the upload removes its rows and every object it had.
    response = owner_client.post(reverse("detection:delete", args=[media.pk]))
    assert response.status_code == 302
    assert not Media.objects.filter(pk=media.pk).exists() and not FrameResult.objects.filter(job_id=job.pk).exists()
    assert s3.names("uploads/") == [] and s3.names(f"jobs/{job.pk}/") == []
    assert remote_worker.alive()


@pytest.mark.django_db
def test_presigned_redirects_are_short_lived_private_urls_that_answer_range_requests(
        s3, settings, owner, owner_client, outsider_client, clips):
    settings.PRIVATE_STORAGE_REDIRECT = True
    settings.PRIVATE_STORAGE_URL_SECONDS = 30
    result = intake.media_upload(owner=owner, uploaded=SimpleUploadedFile("talk.mp4", clips["face"].read_bytes()))
    media = result.media
    key = media.file.name
    # The object is private: its ACL grants nothing to everyone, and an unsigned GET is refused.
    acl = s3server.client(s3.endpoint).get_object_acl(Bucket=s3.bucket, Key=key)
    assert all("URI" not in grant["Grantee"] for grant in acl["Grants"])
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{s3.endpoint}/{s3.bucket}/{key}", timeout=10)
    assert refused.value.code == 403

    response = owner_client.get(reverse("detection:media_file", args=[media.pk]))
    assert response.status_code == 302 and response["Cache-Control"] == "private, no-store"
    location = response["Location"]
    assert location.startswith(f"{s3.endpoint}/{s3.bucket}/{key}?")
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=30" in location
    data = clips["face"].read_bytes()
    request = urllib.request.Request(location, headers={"Range": "bytes=10-209"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 206 and answer.read() == data[10:210]
        assert answer.headers["Content-Type"] == "video/mp4"
    assert outsider_client.get(reverse("detection:media_file", args=[media.pk])).status_code == 404


@pytest.mark.django_db
def test_a_failed_upload_leaves_no_object(s3, owner, monkeypatch, clips):
    def database_fails(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(intake.DetectionJob.objects, "create", database_fails)
    with pytest.raises(RuntimeError):
        intake.media_upload(owner=owner, uploaded=SimpleUploadedFile("a.mp4", clips["face"].read_bytes()))
    assert s3.names("uploads/") == []


@pytest.mark.django_db
def test_the_sweeper_removes_objects_no_row_names(s3, owner, clips, django_capture_on_commit_callbacks):
    kept = intake.media_upload(owner=owner, uploaded=SimpleUploadedFile("a.mp4", clips["face"].read_bytes())).media
    queued_job = kept.job
    put = s3server.client(s3.endpoint).put_object
    put(Bucket=s3.bucket, Key="uploads/deadbeef.mp4", Body=b"a web process died before its commit")
    put(Bucket=s3.bucket, Key="jobs/987654321/0123.jpg", Body=b"a job that is gone")
    put(Bucket=s3.bucket, Key=f"jobs/{queued_job.pk}/aaaa.jpg", Body=b"a running attempt's heatmap")

    young = sweeping.storage_sweep()  # everything is younger than SWEEP_ORPHAN_SECONDS: kept
    assert young.removed == [] and young.kept_young == 2
    report = sweeping.storage_sweep(older_than=0)
    assert sorted(report.removed) == ["jobs/987654321/0123.jpg", "uploads/deadbeef.mp4"]
    # The upload with a row and the files of a job still queued stay; once the job ends they are orphans.
    assert s3.names() == sorted([kept.file.name, f"jobs/{queued_job.pk}/aaaa.jpg"])
    DetectionJob.objects.filter(pk=queued_job.pk).update(status="failed")
    assert sweeping.storage_sweep(older_than=0).removed == [f"jobs/{queued_job.pk}/aaaa.jpg"]
    with django_capture_on_commit_callbacks(execute=True):
        deletion.media_delete(media=kept)
    assert s3.names() == []


@pytest.mark.django_db
def test_a_reclaimed_job_starts_by_removing_the_files_of_the_attempt_that_died(s3, owner, monkeypatch, clips):
    media = intake.media_upload(owner=owner, uploaded=SimpleUploadedFile("a.mp4", clips["face"].read_bytes())).media
    job = media.job
    # An attempt on another host stored a heatmap, then its heartbeat stopped (the host died).
    s3server.client(s3.endpoint).put_object(Bucket=s3.bucket, Key=f"jobs/{job.pk}/half.jpg", Body=b"half")
    DetectionJob.objects.filter(pk=job.pk).update(
        status="running", attempts=1, claimed_by="worker-host-9:4242", started_at=timezone.now(),
        heartbeat_at=timezone.now() - timedelta(seconds=600))
    seen = []
    monkeypatch.setattr(jobs, "_analyse", lambda job: seen.append(s3.names(f"jobs/{job.pk}/")))
    jobs.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.attempts == 2 and seen == [[]]


@pytest.mark.django_db
def test_a_live_claim_on_another_host_is_left_alone(owner, monkeypatch, settings, tmp_path):
    from tests.moderation_support import make_job

    settings.PRIVATE_MEDIA_ROOT = tmp_path  # make_job stores a file
    job = make_job(owner, status="queued")
    DetectionJob.objects.filter(pk=job.pk).update(
        status="running", attempts=1, claimed_by="worker-host-9:4242", started_at=timezone.now(),
        heartbeat_at=timezone.now())
    claims = []
    monkeypatch.setattr(jobs, "_analyse", lambda job: claims.append(job.pk))
    jobs.job_run(job_id=job.pk)
    assert claims == [] and DetectionJob.objects.get(pk=job.pk).attempts == 1


@pytest.mark.django_db
def test_an_upload_while_the_object_store_is_away_is_refused_cleanly(s3, settings, owner, owner_client, clips):
    from rest_framework.test import APIClient

    from api import services as api_services

    settings.S3_ENDPOINT_URL = f"http://127.0.0.1:{s3server.free_port()}"  # nothing listens there
    response = owner_client.post(reverse("detection:upload"),
                                 {"file": SimpleUploadedFile("a.mp4", clips["face"].read_bytes())})
    assert response.status_code == 400 and b"cannot be stored right now" in response.content
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_services.token_create(user=owner, name='s3').raw}")
    answer = api.post("/api/v1/analyses/", {"file": SimpleUploadedFile("a.mp4", clips["face"].read_bytes())},
                      format="multipart")
    assert answer.status_code == 503 and answer.json()["code"] == "storage_unavailable"
    assert not Media.objects.exists() and not DetectionJob.objects.exists()
    settings.S3_ENDPOINT_URL = s3.endpoint
    assert s3.names() == []


@pytest.mark.django_db
def test_the_sweeper_resends_a_job_whose_host_went_silent(owner, monkeypatch, settings, tmp_path):
    """A claim from another host cannot be checked by pid: a stopped heartbeat is what tells."""
    from tests.moderation_support import make_job

    settings.PRIVATE_MEDIA_ROOT = tmp_path
    sent: list[int] = []
    monkeypatch.setattr(queues, "send_analysis", sent.append)  # the broker is not what this checks
    monkeypatch.setattr(queues, "broker_pending_job_ids", lambda: set())
    silent, alive = make_job(owner, status="queued"), make_job(owner, status="queued")
    for job, beat in ((silent, settings.JOB_HEARTBEAT_TIMEOUT + 5), (alive, 1)):
        DetectionJob.objects.filter(pk=job.pk).update(
            status="running", attempts=1, claimed_by="worker-host-9:4242", started_at=timezone.now(),
            heartbeat_at=timezone.now() - timedelta(seconds=beat))
    report = sweeping.jobs_sweep()
    assert report.requeued == [silent.pk] and sent == [silent.pk]
    assert DetectionJob.objects.get(pk=silent.pk).status == "queued"
    assert DetectionJob.objects.get(pk=alive.pk).status == "running"
