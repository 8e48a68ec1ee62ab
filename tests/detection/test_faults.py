"""Faults: the sweeper re-enqueues jobs the broker lost or whose worker died (bounded, then "stuck"),
a killed worker's job is claimed again at once, and a failed storage write fails the job with no rows
and no files left behind. The live drills (kill -9, Redis and MariaDB restarts, load) are in bench/."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from detection import detector, errors, jobs, queues, sweeping
from detection.models import DetectionJob, FrameResult
from detection.storage import private_storage
from ml.inference.result import AnalysedFrame, Prediction

from tests.conftest import require
from tests.moderation_support import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_private_root(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


@pytest.fixture
def sent(monkeypatch):
    """Messages the sweeper sends, recorded instead of going to the broker; the broker holds nothing."""
    messages: list[int] = []
    monkeypatch.setattr(queues, "send_analysis", messages.append)
    monkeypatch.setattr(queues, "broker_pending_job_ids", lambda: set())
    return messages


def queued_job(owner, *, message_age: float = 600, **fields) -> DetectionJob:
    job = make_job(owner, status="queued")
    values = {"status": "queued", "progress": 0, "started_at": None, "finished_at": None,
              "enqueued_at": timezone.now() - timedelta(seconds=message_age), **fields}
    DetectionJob.objects.filter(pk=job.pk).update(**values)
    return DetectionJob.objects.get(pk=job.pk)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_sweeper_resends_a_queued_job_whose_message_was_lost(owner, sent):
    job = queued_job(owner)
    report = sweeping.jobs_sweep()
    assert report.requeued == [job.pk] and sent == [job.pk]
    job.refresh_from_db()
    assert job.requeues == 1 and job.status == "queued"
    assert timezone.now() - job.enqueued_at < timedelta(seconds=30)
    # Just sent: the next sweep leaves it alone.
    assert sweeping.jobs_sweep().requeued == [] and sent == [job.pk]


def test_the_sweeper_leaves_recent_and_pending_jobs_alone(owner, sent, monkeypatch):
    recent = queued_job(owner, message_age=5)
    waiting = queued_job(owner)
    monkeypatch.setattr(queues, "broker_pending_job_ids", lambda: {waiting.pk})
    report = sweeping.jobs_sweep()
    assert report.requeued == [] and report.skipped_pending == 1 and sent == []
    assert DetectionJob.objects.get(pk=recent.pk).requeues == 0


def test_the_sweeper_gives_up_after_the_requeue_limit(owner, sent, settings):
    settings.SWEEP_MAX_REQUEUES = 2
    job = queued_job(owner, requeues=2)
    report = sweeping.jobs_sweep()
    assert report.failed == [job.pk] and sent == []
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == errors.STUCK
    assert "could not be completed after several tries" in job.error_message


def test_the_sweeper_fails_a_job_out_of_claims(owner, sent):
    long_ago = timezone.now() - timedelta(hours=2)
    job = queued_job(owner, status="running", attempts=jobs.MAX_ATTEMPTS, started_at=long_ago)
    assert sweeping.jobs_sweep().failed == [job.pk]
    assert DetectionJob.objects.get(pk=job.pk).error_code == errors.STUCK


def test_the_sweeper_resends_a_job_whose_worker_died(owner, sent):
    job = queued_job(owner, status="running", attempts=1, started_at=timezone.now(),
                     claimed_by=f"{jobs.process_identity().rpartition(':')[0]}:{dead_pid()}")
    alive = queued_job(owner, status="running", attempts=1, started_at=timezone.now(),
                       claimed_by=f"{jobs.process_identity().rpartition(':')[0]}:1")  # pid 1 is alive
    elsewhere = queued_job(owner, status="running", attempts=1, started_at=timezone.now(),
                           claimed_by="another-host:1")
    report = sweeping.jobs_sweep()
    assert report.requeued == [job.pk]
    assert DetectionJob.objects.get(pk=job.pk).status == "queued"
    assert DetectionJob.objects.get(pk=alive.pk).status == "running"
    assert DetectionJob.objects.get(pk=elsewhere.pk).status == "running"  # judged by the deadline instead


def test_the_sweeper_resends_a_running_job_past_its_deadline(owner, sent, settings):
    long_ago = timezone.now() - timedelta(seconds=settings.DETECTION_HARD_TIME_LIMIT + 120)
    job = queued_job(owner, status="running", attempts=1, started_at=long_ago, claimed_by="another-host:1")
    assert sweeping.jobs_sweep().requeued == [job.pk]


def test_the_sweeper_counts_nothing_while_the_broker_is_down(owner, monkeypatch):
    job = queued_job(owner)
    monkeypatch.setattr(queues, "broker_pending_job_ids", lambda: None)

    def broker_down(job_id):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(queues, "send_analysis", broker_down)
    report = sweeping.jobs_sweep()
    assert report.requeued == [] and "Connection refused" in report.broker_error
    assert DetectionJob.objects.get(pk=job.pk).requeues == 0


def test_an_upload_while_the_broker_is_down_stays_queued_for_the_sweeper(owner, monkeypatch, caplog):
    def broker_down(job_id):
        raise ConnectionError("Connection refused")

    monkeypatch.setattr(queues, "send_analysis", broker_down)
    queues.enqueue_analysis(123)  # no exception reaches the upload view
    assert "left queued for the sweeper" in caplog.text


def test_sweep_jobs_command_runs(owner, sent):
    from io import StringIO

    from django.core.management import call_command

    job = queued_job(owner)
    out = StringIO()
    call_command("sweep_jobs", stdout=out)
    assert "requeued 1 failed 0" in out.getvalue() and sent == [job.pk]


def test_a_redelivered_message_reclaims_a_job_whose_worker_was_killed(owner, monkeypatch):
    job = queued_job(owner, status="running", attempts=1, started_at=timezone.now(),
                     claimed_by=f"{jobs.process_identity().rpartition(':')[0]}:{dead_pid()}")
    claims = []
    monkeypatch.setattr(jobs, "_analyse", lambda job: claims.append(job.pk))
    jobs.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert claims == [job.pk] and job.attempts == 2 and job.claimed_by == jobs.process_identity()


def test_a_retry_reclaims_the_job_its_own_process_could_not_release(owner, monkeypatch):
    """The database went away mid-job, so job_release failed too; the task's retry runs in the same
    process and must not find the job locked by its own abandoned claim."""
    job = queued_job(owner, status="running", attempts=1, started_at=timezone.now(),
                     claimed_by=jobs.process_identity())
    claims = []
    monkeypatch.setattr(jobs, "_analyse", lambda job: claims.append(job.pk))
    jobs.job_run(job_id=job.pk)
    assert claims == [job.pk] and DetectionJob.objects.get(pk=job.pk).attempts == 2


def test_a_retry_in_another_worker_takes_over_the_abandoned_claim(owner, monkeypatch):
    job = queued_job(owner, status="running", attempts=1, started_at=timezone.now(), claimed_by="vm:1")
    claims = []
    monkeypatch.setattr(jobs, "_analyse", lambda job: claims.append(job.pk))
    jobs.job_run(job_id=job.pk)  # a plain duplicate message: the live claim stands
    assert claims == []
    jobs.job_run(job_id=job.pk, abandoned_claim="vm:1,vm:2")
    assert claims == [job.pk] and DetectionJob.objects.get(pk=job.pk).attempts == 2


def test_pending_job_ids_are_read_from_redis(settings, monkeypatch):
    require(settings.CELERY_BROKER_URL.startswith("redis://"), "needs the Redis broker")
    from deepfake_portal.celery import app
    from detection.tasks import analyse_media

    monkeypatch.setattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)
    queue = f"rel-sweep-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(app.conf, "task_default_queue", queue)
    analyse_media.apply_async(args=(987654,), queue=queue)
    try:
        assert 987654 in queues.broker_pending_job_ids()
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.client.delete(queue)


def fake_prediction(tmp_path, frames: int = 4) -> Prediction:
    from PIL import Image

    analysed = []
    for index in range(frames):
        heatmap = tmp_path / f"h{index}.jpg"
        Image.new("RGB", (32, 32), "blue").save(heatmap)
        analysed.append(AnalysedFrame(index=index, time=index / 25, box=(0, 0, 20, 20), score=0.7,
                                      heatmap=str(heatmap), thumbnail=str(heatmap)))
    return Prediction(path="x", kind="video", status="ok", score=0.7, label="fake", threshold=0.5,
                      model_version="test", frames=analysed, faces_found=1)


def test_a_failed_storage_write_fails_the_job_cleanly(owner, monkeypatch, tmp_path):
    job = queued_job(owner, message_age=0)
    prediction = fake_prediction(tmp_path)

    class Predictor:
        card = {}
        threshold = 0.5

        def predict(self, *args, **kwargs):
            return prediction

    monkeypatch.setattr(detector, "get_predictor", Predictor)
    real_copy = jobs.shutil.copyfile
    copies = []

    def disk_fills_up(source, dest):
        if len(copies) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        copies.append(dest)
        return real_copy(source, dest)

    monkeypatch.setattr(jobs.shutil, "copyfile", disk_fills_up)
    jobs.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == errors.STORAGE_ERROR
    assert "could not be saved" in job.error_message
    assert FrameResult.objects.filter(job=job).count() == 0
    assert copies and not any(os.path.exists(path) for path in copies)
    job_dir = private_storage.path(f"jobs/{job.pk}")
    assert not os.path.isdir(job_dir) or os.listdir(job_dir) == []


def test_a_read_only_storage_folder_fails_the_job_cleanly(owner, monkeypatch, tmp_path, settings):
    """The folder itself refuses writes (as a read-only mount would; root ignores chmod, so the open is refused)."""
    job = queued_job(owner, message_age=0)
    prediction = fake_prediction(tmp_path)
    monkeypatch.setattr(detector, "get_predictor", lambda: type("P", (), {"card": {}, "threshold": 0.5, "predict": lambda *a, **k: prediction})())

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(jobs.os, "makedirs", read_only)
    jobs.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == errors.STORAGE_ERROR
    assert FrameResult.objects.count() == 0
