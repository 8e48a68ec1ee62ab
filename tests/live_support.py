"""Helpers for the live check's tests: JPEG frames cut from a real face clip, the clip pair the detector
separates, a logged-in socket through the real ASGI app, and daphne serving the test database.

The ASGI server is a subprocess (``python -m daphne``, as `make run-stack` runs it) on the test database
pytest-django made, sending frames and saved sessions to the test worker's queue, so tests that use it
must be transactional, as the worker's are.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import REPO, WORKER_QUEUE, _test_database_url, ffmpeg, require, shared_data_dir

# Chosen with `python -m ml.detect --json --backend onnx`: 0.046 (real) and 0.885 (fake) for the whole
# clips; their frames as JPEGs score 0.01-0.16 and 0.79-0.98.
REAL_CLIP = "train/FuxiVirtualHuman_styletalk/samples/source_video/video/Obama_clip1.mp4"
FAKE_CLIP = "train/pool-faceswap-datasets/044_945_6160458a0e.mp4"


@pytest.fixture(scope="session")
def clip_pair() -> dict[str, Path]:
    paths = {"real": shared_data_dir() / REAL_CLIP, "fake": shared_data_dir() / FAKE_CLIP}
    for path in paths.values():
        require(path.is_file(), f"shared face data not found: {path}")
    return paths


@pytest.fixture(scope="session")
def face_frames(clip_pair, tmp_path_factory) -> list[bytes]:
    """3 s of the real clip as JPEG frames, 5 a second, as the live page sends them."""
    out = tmp_path_factory.mktemp("live-frames")
    ffmpeg("-i", str(clip_pair["real"]), "-t", "3", "-vf", "fps=5", "-q:v", "3", str(out / "frame%03d.jpg"))
    frames = [path.read_bytes() for path in sorted(out.glob("frame*.jpg"))]
    assert len(frames) >= 10
    return frames


def session_cookie(user) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def communicator(*, user=None, token: str | None = None, origin: str | None = "http://testserver"):
    """A socket through the whole ASGI app (origin check, session/token auth, routing)."""
    from channels.testing import WebsocketCommunicator

    from deepfake_portal.asgi import application

    headers = []
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if user is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_cookie(user)}".encode()))
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return WebsocketCommunicator(application, "/ws/live/", headers=headers)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def asgi_server(celery_worker, django_db_blocker, tmp_path_factory):
    """daphne on a free port, serving pages and sockets from the test database; frames and saved sessions
    go to the test worker. Yields its base URL."""
    from django.db import connection

    with django_db_blocker.unblock():
        database_url = _test_database_url(connection.settings_dict)
    port = free_port()
    log_path = tmp_path_factory.mktemp("daphne") / "daphne.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_QUEUE": WORKER_QUEUE,
        "CELERY_LONG_QUEUE": WORKER_QUEUE,
        "LIVE_QUEUE": WORKER_QUEUE,
        "PRIVATE_MEDIA_ROOT": str(settings.PRIVATE_MEDIA_ROOT),
        "SECRET_KEY": settings.SECRET_KEY,
        "DETECTOR_CHECKPOINT": settings.DETECTOR_CHECKPOINT,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "UPLOADS_PER_HOUR": "1000",
        "REGISTRY_SHADOW_QUEUE": WORKER_QUEUE,
        "REGISTRY_WORK_DIR": str(settings.REGISTRY_WORK_DIR),
        "REGISTRY_MODEL_CACHE": str(settings.REGISTRY_MODEL_CACHE),
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "deepfake_portal.asgi:application"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/accounts/login/", timeout=5)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                _stop(process)
                pytest.fail(f"daphne did not start:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.3)
    yield base
    _stop(process)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
