"""Shared fixtures: personas, test clips cut from the shared data, and a real Celery worker process.

The worker fixture starts ``celery -A deepfake_portal worker --pool=solo -c 1`` against Redis and the
test database pytest-django created (its name is passed to the worker in DATABASE_URL), on a queue of
its own so no other worker on the same Redis can take the test's jobs. Tests that use it must use
``transactional_db`` (or ``live_server``) so their rows are committed where the worker can see them.
"""
from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from tests.provenance_media import TRUST_ANCHORS as PROVENANCE_TRUST_ANCHORS

REPO = Path(__file__).resolve().parent.parent
TEST_PASSWORD = "a-long-test-passphrase-42"
WORKER_QUEUE = f"test-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def pytest_configure(config):
    if not settings.SECRET_KEY:
        settings.SECRET_KEY = "test-only-secret-key"


def require(condition: bool, why: str) -> None:
    """Skip locally when something outside the repo is missing; under CI that is a failure."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI is set, so this fails instead of skipping)")
    pytest.skip(why)


# --- storage and personas ---------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def private_media_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("private")
    settings.PRIVATE_MEDIA_ROOT = root
    return root


def _user(username: str) -> User:
    return User.objects.create_user(username=username, email=f"{username}@example.com", password=TEST_PASSWORD)


@pytest.fixture
def owner(db):
    return _user("alice")


@pytest.fixture
def outsider(db):
    return _user("mallory")


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def outsider_client(owner, outsider):
    from django.test import Client

    other = Client()
    other.force_login(outsider)
    return other


# --- media ------------------------------------------------------------------------------------


def shared_data_dir() -> Path:
    return Path(os.environ.get("DEEPFAKE_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def face_video_source() -> Path:
    """A real talking-head clip from the shared training data (the first real video listed)."""
    train = shared_data_dir() / "train"
    require((train / "labels.csv").is_file(), f"shared face data not found at {train}")
    with open(train / "labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["kind"] == "video" and row["label"] == "real":
                return train / row["path"]
    pytest.fail(f"no real video listed in {train / 'labels.csv'}")


def ffmpeg(*args: str) -> None:
    require(shutil.which("ffmpeg") is not None, "ffmpeg is not installed")
    subprocess.run(["ffmpeg", "-y", "-v", "error", *args], check=True, timeout=60)


@pytest.fixture(scope="session")
def clips(tmp_path_factory, face_video_source):
    """Small test clips made on the fly: 2 s of a real face clip, and a face-free gradient."""
    out = tmp_path_factory.mktemp("clips")
    face = out / "face.mp4"
    ffmpeg("-i", str(face_video_source), "-t", "2", "-an", "-vf", "scale=-2:'min(360,ih)'",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(face))
    no_face = out / "gradient.mp4"
    ffmpeg("-f", "lavfi", "-i", "gradients=s=320x240:d=2:r=25", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", str(no_face))
    return {"face": face, "no_face": no_face}


# --- the real worker --------------------------------------------------------------------------


def _test_database_url(settings_dict: dict) -> str:
    user = quote(settings_dict["USER"] or "", safe="")
    password = quote(settings_dict["PASSWORD"] or "", safe="")
    host = settings_dict["HOST"] or "127.0.0.1"
    port = settings_dict["PORT"] or 3306
    return f"mysql://{user}:{password}@{host}:{port}/{settings_dict['NAME']}"


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker subprocess on Redis, reading and writing the test database."""
    from django.db import connection

    from deepfake_portal.celery import app as celery_app

    broker = os.environ.get("CELERY_BROKER_URL", "")
    require(broker.startswith("redis://"), "CELERY_BROKER_URL must point at Redis for worker tests")
    require(connection.vendor == "mysql", "worker tests need MariaDB/MySQL (DATABASE_URL=mysql://...)")
    with django_db_blocker.unblock():
        database_url = _test_database_url(connection.settings_dict)

    # This process sends to the test queue (both work types); the worker listens only there.
    celery_app.conf.task_default_queue = WORKER_QUEUE
    settings.DETECTION_QUEUE = settings.DETECTION_LONG_QUEUE = settings.REGISTRY_SHADOW_QUEUE = WORKER_QUEUE
    settings.REGISTRY_WORK_DIR = str(tmp_path_factory.mktemp("registry-work"))
    settings.REGISTRY_MODEL_CACHE = str(tmp_path_factory.mktemp("registry-models"))
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "CELERY_QUEUE": WORKER_QUEUE,
        "PRIVATE_MEDIA_ROOT": str(settings.PRIVATE_MEDIA_ROOT),
        "SECRET_KEY": settings.SECRET_KEY,
        "DETECTOR_CHECKPOINT": settings.DETECTOR_CHECKPOINT,
        "DETECTOR_FRAMES": os.environ.get("DETECTOR_FRAMES", "8"),
        "DEBUG": "0",
        "WEBHOOK_ALLOW_PRIVATE": "1",  # the API tests' webhook receivers listen on 127.0.0.1
        "REGISTRY_SHADOW_QUEUE": WORKER_QUEUE,  # shadow scores and retraining on the test's own queue too
        "REGISTRY_WORK_DIR": str(settings.REGISTRY_WORK_DIR),
        "REGISTRY_MODEL_CACHE": str(settings.REGISTRY_MODEL_CACHE),
        "PROVENANCE_TRUST_ANCHORS": str(PROVENANCE_TRUST_ANCHORS),  # written by tests/provenance_media.py
    }
    log = open(log_path, "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "deepfake_portal", "worker", "--pool=solo", "-c", "1",
         "-Q", WORKER_QUEUE, "-n", f"{WORKER_QUEUE}@%h", "--loglevel=INFO",
         "--without-gossip", "--without-mingle"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    worker = WorkerProcess(process, log_path)
    deadline = time.monotonic() + 90
    while b" ready." not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            pytest.fail(f"the Celery worker did not start:\n{worker.log_tail()}")
        time.sleep(0.3)
    yield worker
    worker.stop()
    log.close()


class WorkerProcess:
    def __init__(self, process: subprocess.Popen, log_path: Path):
        self.process = process
        self.log_path = log_path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_bytes()[-chars:].decode(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def wait_for_job(job_id: int, worker: WorkerProcess, timeout: float = 180.0):
    """Poll the job row until it is final; fail with the worker's log if it never gets there."""
    from detection.models import DetectionJob

    deadline = time.monotonic() + timeout
    while True:
        job = DetectionJob.objects.get(pk=job_id)
        if job.is_final:
            return job
        if not worker.alive():
            pytest.fail(f"the worker died:\n{worker.log_tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {job.status} after {timeout:.0f} s:\n{worker.log_tail()}")
        time.sleep(0.5)


# ------------------------------------------------------------------------------------------ browser
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright (no browser download), one per test module."""
    require(shutil.which(CHROMIUM) is not None or os.path.exists(CHROMIUM), f"chromium not found at {CHROMIUM}")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def browser_log_in(browser, base: str, username: str, next_url: str, viewport: dict):
    """A new browser context logged in as ``username`` through the login form, on ``next_url``."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(30_000)
    from django.urls import reverse

    page.goto(f"{base}{reverse('login')}?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"**{next_url}")
    return context, page
