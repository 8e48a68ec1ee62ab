"""The live check's socket, through the real ASGI app (origin check, session/token auth, routing): who may
open one, bad messages closing it with a reason, the frame rate cap, the session limits, frames scored by a
real Celery worker (and by the server's process pool), "save this session" making an ordinary job, and the
Python client's `live` command against daphne. Plus the pure parts: the running score and verdict, the
message rules, the saved video.
"""
from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import subprocess
import sys
import time

import pytest
from PIL import Image

from api import services as api_services
from detection.models import DetectionJob, Media
from live import dispatch, protocol
from live.models import LiveSession
from live.recording import Recording
from live.tracker import Tracker, clock
from ml.media.decode import probe

from tests.conftest import REPO, WORKER_QUEUE, _test_database_url, _user, wait_for_job
from tests.live_support import asgi_server, clip_pair, communicator, face_frames  # noqa: F401

TIMEOUT = 30  # seconds for any one answer (a worker loading the detector the first time takes a few)


def jpeg(width: int = 64, height: int = 48, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


async def ready(socket) -> dict:
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert connected
    message = await socket.receive_json_from(timeout=TIMEOUT)
    assert message["type"] == "ready", message
    return message


async def until(socket, predicate, timeout: float = TIMEOUT) -> list[dict]:
    """Messages until one satisfies ``predicate`` (that one last)."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        message = await socket.receive_json_from(timeout=max(0.1, deadline - time.monotonic()))
        seen.append(message)
        if predicate(message):
            return seen


async def stream(socket, frames: list[bytes], *, scores: int) -> list[dict]:
    """Send frames one answer at a time (as the page does with in_flight 1) until ``scores`` are scored."""
    answers: list[dict] = []
    for frame in frames * 10:
        await socket.send_to(bytes_data=frame)
        answers += await until(socket, lambda m: m["type"] in ("score", "dropped"))
        if sum(m["type"] == "score" for m in answers) >= scores:
            return answers
    pytest.fail(f"only {answers} after {len(frames) * 10} frames")


def scored_session(user, frames: list[bytes], scores: int) -> list[dict]:
    """A whole session that streams until ``scores`` frames are scored; their "score" messages."""
    async def scenario():
        socket = communicator(user=user)
        await ready(socket)
        answers = await stream(socket, frames, scores=scores)
        await socket.disconnect()
        return answers

    return [m for m in asyncio.run(scenario()) if m["type"] == "score"]


async def closed_with(socket, code: int, key: str) -> dict:
    """The "error" message that says why, then the close with its code and reason."""
    error = await socket.receive_json_from(timeout=TIMEOUT)
    assert error["type"] == "error" and error["code"] == key, error
    assert "Traceback" not in error["message"] and error["message"]
    output = await socket.receive_output(timeout=TIMEOUT)
    assert output == {"type": "websocket.close", "code": code, "reason": key}
    return error


# --- who may open a socket ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_unauthenticated_socket_is_refused():
    owner = _user("alice")
    token = api_services.token_create(user=owner, name="live").raw

    async def scenario():
        for socket in (communicator(), communicator(token="dfp_not-a-token"), communicator(origin=None)):
            connected, _ = await socket.connect(timeout=TIMEOUT)
            assert not connected
        # A real user's cookie from another site's page, or with no Origin at all, is refused too.
        for origin in ("http://evil.example", None):
            socket = communicator(user=owner, origin=origin)
            connected, _ = await socket.connect(timeout=TIMEOUT)
            assert not connected
        # A revoked token is nobody.
        api_services.token_revoke(user=owner, token_id=owner.api_tokens.get().pk)
        connected, _ = await communicator(token=token, origin=None).connect(timeout=TIMEOUT)
        assert not connected

    asyncio.run(scenario())
    assert not LiveSession.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_session_or_an_api_token_opens_a_socket_and_one_per_user():
    owner = _user("alice")
    token = api_services.token_create(user=owner, name="live").raw

    async def scenario():
        first = communicator(token=token, origin=None)  # a program: a token and no Origin header
        hello = await ready(first)
        assert hello["limits"]["max_fps"] > 0 and hello["limits"]["in_flight"] >= 1
        second = communicator(user=owner)  # the same user in a browser tab
        connected, _ = await second.connect(timeout=TIMEOUT)
        assert connected
        await closed_with(second, protocol.CLOSE_BUSY, "busy")
        await first.send_json_to({"type": "stop"})
        assert (await first.receive_output(timeout=TIMEOUT))["code"] == protocol.CLOSE_NORMAL
        await first.disconnect()
        third = communicator(user=owner)  # the first one is closed: room again
        await ready(third)
        await third.disconnect()

    asyncio.run(scenario())
    # The refused second socket never had a row: it never counted as open.
    rows = LiveSession.objects.order_by("pk")
    assert [r.end_reason for r in rows] == ["stopped", "closed 1000"] and all(r.ended_at for r in rows)


# --- bad messages ------------------------------------------------------------------------------

BAD_MESSAGES = [
    ("text", "not json", protocol.CLOSE_BAD_MESSAGE, "bad_json"),
    ("text", "[1, 2]", protocol.CLOSE_BAD_MESSAGE, "bad_json"),
    ("text", '{"type": "dance"}', protocol.CLOSE_BAD_MESSAGE, "unknown_type"),
    ("text", json.dumps({"type": "save", "pad": "x" * 2000}), protocol.CLOSE_TOO_LARGE, "message_too_large"),
    ("bytes", b"GIF89a" + b"\0" * 100, protocol.CLOSE_BAD_MESSAGE, "not_jpeg"),
    ("bytes", b"\xff\xd8\xff" + b"\x13" * 200, protocol.CLOSE_BAD_MESSAGE, "bad_frame"),
    ("bytes", "big", protocol.CLOSE_TOO_LARGE, "frame_too_large"),
    ("bytes", "wide", protocol.CLOSE_TOO_LARGE, "frame_too_large"),
]


@pytest.mark.django_db(transaction=True)
def test_bad_messages_close_the_socket_with_a_reason(settings, caplog):
    settings.LIVE_MAX_FRAME_BYTES = 50_000
    settings.LIVE_MAX_FRAME_SIDE = 1280
    owner = _user("alice")
    big = jpeg(1200, 1200, quality=100) + b"\0" * 60_000

    async def scenario():
        for kind, payload, code, key in BAD_MESSAGES:
            socket = communicator(user=owner)
            await ready(socket)
            if kind == "text":
                await socket.send_to(text_data=payload)
            else:
                data = {"big": big, "wide": jpeg(1300, 20)}.get(payload, payload)
                await socket.send_to(bytes_data=data)
            await closed_with(socket, code, key)
            await socket.disconnect()

    asyncio.run(scenario())
    reasons = list(LiveSession.objects.order_by("pk").values_list("end_reason", flat=True))
    assert reasons == [key for *_, key in BAD_MESSAGES]
    assert "Traceback" not in caplog.text


# --- with a real worker ------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_frames_are_scored_by_a_worker_with_a_face_box_heatmap_and_running_verdict(celery_worker, face_frames,
                                                                                   settings):
    assert settings.LIVE_SCORER == "celery"
    settings.LIVE_QUEUE = WORKER_QUEUE
    settings.LIVE_STALE_SECONDS = 30  # the worker may load the detector first
    scores = scored_session(_user("alice"), face_frames, 4)
    first, last = scores[0], scores[-1]
    assert first["status"] == "ok", (first, celery_worker.log_tail())
    assert 0 <= first["score"] <= 1 and first["faces"] == 1 and first["model_version"]
    x0, y0, x1, y1 = first["box"]
    assert 0 <= x0 < x1 <= 256 and 0 <= y0 < y1 <= 256
    with Image.open(io.BytesIO(base64.b64decode(first["heatmap"]))) as heatmap:
        assert heatmap.format == "JPEG" and 32 <= max(heatmap.size) <= 160
    # The running score is the mean of the window's frame scores; after three faces there is a verdict.
    assert last["running"] == pytest.approx(sum(m["score"] for m in scores) / len(scores), abs=1e-3)
    assert first["verdict"]["key"] == "waiting"
    assert last["verdict"]["key"] == "authentic" and last["verdict"]["text"] == "Looks authentic so far"
    assert [m["t"] for m in scores] == sorted(m["t"] for m in scores)
    row = LiveSession.objects.get()
    assert row.ended_at and row.frames_scored == len(scores)


@pytest.mark.django_db(transaction=True)
def test_frames_are_scored_by_the_servers_process_pool(face_frames, settings, monkeypatch):
    """LIVE_SCORER=pool (what `make run` uses): a spawned process of this server loads the detector."""
    from django.db import connection

    settings.LIVE_SCORER = "pool"
    settings.LIVE_STALE_SECONDS = 60
    # The pool's processes read the registry's serving version from this test's database, as the server's would.
    monkeypatch.setenv("DATABASE_URL", _test_database_url(connection.settings_dict))
    try:
        scores = scored_session(_user("alice"), face_frames, 2)
    finally:
        dispatch.stop_pool()
    assert scores[-1]["status"] == "ok" and 0 <= scores[-1]["score"] <= 1 and scores[-1]["heatmap"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_frames_beyond_the_per_user_rate_are_dropped(celery_worker, face_frames, settings):
    settings.LIVE_QUEUE = WORKER_QUEUE
    settings.LIVE_MAX_FPS = 2
    settings.LIVE_STALE_SECONDS = 30  # however busy the machine, frames 1 and 2 are not dropped as stale
    owner = _user("alice")

    async def scenario():
        socket = communicator(user=owner)
        await ready(socket)
        for frame in face_frames[:6]:  # at once: 6 frames in far less than a second
            await socket.send_to(bytes_data=frame)
        answers = {}
        while len(answers) < 6:
            message = await socket.receive_json_from(timeout=TIMEOUT * 2)
            if message["type"] in ("score", "dropped"):
                answers[message["seq"]] = message
        await socket.disconnect()
        return answers

    answers = asyncio.run(scenario())
    # Frames 3-6 were over 2 a second: dropped on arrival, never scored. Frame 1 went to the worker; frame 2
    # waited as the next one, then went too.
    assert [answers[seq]["reason"] for seq in (3, 4, 5, 6)] == ["fps_cap"] * 4
    assert answers[1]["type"] == answers[2]["type"] == "score"
    assert LiveSession.objects.get().frames_dropped >= 4


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_frame_that_does_not_decode_closes_the_socket(celery_worker, settings):
    settings.LIVE_QUEUE = WORKER_QUEUE
    settings.LIVE_STALE_SECONDS = 30
    owner = _user("alice")
    broken = jpeg(320, 240)[:400]  # a real header, then nothing

    async def scenario():
        socket = communicator(user=owner)
        await ready(socket)
        await socket.send_to(bytes_data=broken)
        await closed_with(socket, protocol.CLOSE_BAD_MESSAGE, "bad_frame")

    asyncio.run(scenario())
    assert celery_worker.alive()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_saving_the_session_makes_an_ordinary_job_and_nothing_else_is_kept(celery_worker, face_frames, settings,
                                                                           tmp_path):
    settings.LIVE_QUEUE = WORKER_QUEUE
    settings.LIVE_RECORD_DIR = str(tmp_path)
    owner = _user("alice")

    async def scenario():
        socket = communicator(user=owner)
        await ready(socket)
        await socket.send_json_to({"type": "save"})
        nothing = await socket.receive_json_from(timeout=TIMEOUT)
        for frame in face_frames:  # 3 s of frames at 5 a second
            await socket.send_to(bytes_data=frame)
            await asyncio.sleep(0.2)
        assert len(os.listdir(tmp_path)) == 1  # the session's frames, on disk while it is open
        await socket.send_json_to({"type": "save"})
        saved = await until(socket, lambda m: m["type"] in ("saved", "error"), timeout=120)
        await socket.disconnect()
        return nothing, saved[-1]

    nothing, saved = asyncio.run(scenario())
    assert nothing["type"] == "error" and nothing["code"] == "nothing_to_save"
    assert saved["type"] == "saved", saved
    media = Media.objects.get(pk=saved["media"])
    assert media.owner == owner and media.kind == "video" and media.original_name.startswith("live-")
    assert saved["url"] == f"/media/{media.pk}/"
    assert media.duration == pytest.approx(len(face_frames) * 0.2, abs=0.8)
    job = wait_for_job(media.job.pk, celery_worker)
    assert job.status == DetectionJob.Status.DONE, (job.error_code, celery_worker.log_tail())
    assert job.frames.count() >= 4 and job.frames.exclude(heatmap="").exists()
    assert LiveSession.objects.get().saved == 1
    assert os.listdir(tmp_path) == []  # closed: the frames are gone


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_session_ends_at_its_maximum_length(celery_worker, face_frames, settings):
    settings.LIVE_QUEUE = WORKER_QUEUE
    settings.LIVE_MAX_SECONDS = 1
    settings.LIVE_SAVE_GRACE_SECONDS = 1
    owner = _user("alice")

    async def scenario():
        socket = communicator(user=owner)
        await ready(socket)
        ended = await until(socket, lambda m: m["type"] == "ended", timeout=10)
        await socket.send_to(bytes_data=face_frames[0])
        late = await socket.receive_json_from(timeout=TIMEOUT)
        await closed_with(socket, protocol.CLOSE_TIME_UP, "time_up")
        return ended[-1], late

    ended, late = asyncio.run(scenario())
    assert ended["reason"] == "time_up"
    assert late["type"] == "dropped" and late["reason"] == "session_over"
    assert LiveSession.objects.get().end_reason == "time_up"


# --- the Python client against daphne ----------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_clients_live_command_streams_a_video_and_saves_it(asgi_server, celery_worker, clip_pair):
    owner = _user("alice")
    token = api_services.token_create(user=owner, name="live").raw
    env = {**os.environ, "PYTHONPATH": str(REPO / "client"), "DEEPFAKE_PORTAL_URL": asgi_server,
           "DEEPFAKE_PORTAL_TOKEN": token}
    result = subprocess.run([sys.executable, "-m", "deepfake_portal_client", "live", str(clip_pair["fake"]),
                             "--loop", "--seconds", "6", "--save"], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, (result.stderr, celery_worker.log_tail())
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {line["type"] for line in lines} >= {"score", "saved", "summary"}
    summary = lines[-1]
    assert summary["type"] == "summary" and summary["scored"] >= 3, summary
    assert summary["saved_url"].startswith(asgi_server + "/media/")
    assert all("heatmap" not in line for line in lines)
    media = Media.objects.get(owner=owner)
    assert media.kind == "video" and wait_for_job(media.job.pk, celery_worker).is_final


# --- the pure parts ----------------------------------------------------------------------------


def test_the_running_score_and_the_rolling_verdict():
    tracker = Tracker(window=5.0, band=0.1, threshold=0.5)
    assert tracker.verdict()["key"] == "waiting"
    for t in (0.0, 0.5, 1.0):
        tracker.add(t, 0.1, 0.5)
    assert tracker.running == pytest.approx(0.1)
    assert tracker.verdict() == {"key": "authentic", "text": "Looks authentic so far", "since": None}
    for t in (10.0, 10.5, 11.0, 12.0):  # the window now holds these only
        tracker.add(t, 0.9)
    assert tracker.running == pytest.approx(0.9) and tracker.session == pytest.approx((0.3 + 3.6) / 7)
    verdict = tracker.verdict()
    assert verdict["key"] == "suspicious" and verdict["since"] == 11.0 and verdict["text"] == "Suspicious since 0:11"
    tracker.add(12.5, 0.55)
    assert tracker.verdict()["since"] == 11.0  # still over the threshold: since when it crossed
    for t in (13.0, 14.0, 15.0, 16.0, 17.0, 18.0):
        tracker.add(t, 0.52)
    assert tracker.verdict()["key"] == "inconclusive"
    for t in (18.5, 19.5, 21.5):
        tracker.add(t, None)  # no face for over 3 s
    assert tracker.verdict() == {"key": "no_face", "text": "No face in view", "since": None}
    assert clock(75) == "1:15" and clock(3725) == "1:02:05"


def test_the_first_verdict_over_the_threshold_is_suspicious_since_the_first_face():
    tracker = Tracker(window=5.0, band=0.1)
    for t in (2.0, 2.5, 3.0):
        tracker.add(t, 0.95, 0.5)
    assert tracker.verdict()["text"] == "Suspicious since 0:02"


def test_control_messages_and_frame_headers_are_checked():
    assert protocol.parse_control('{"type": "save"}') == {"type": "save"}
    bad = [("", "bad_json"), ("{}", "unknown_type"), ('"save"', "bad_json"), ("x" * 2000, "message_too_large")]
    for text, key in bad:
        with pytest.raises(protocol.Refusal) as refused:
            protocol.parse_control(text)
        assert refused.value.key == key and refused.value.close_code in (4400, 4413)
    assert protocol.frame_size(jpeg(64, 48), max_bytes=10_000, max_side=100) == (64, 48)
    with pytest.raises(protocol.Refusal, match="frame_too_large"):
        protocol.frame_size(jpeg(101, 10), max_bytes=10_000, max_side=100)


def test_the_saved_video_keeps_the_sessions_clock(tmp_path, face_frames):
    recording = Recording(max_bytes=10 ** 7, parent=str(tmp_path))
    # Uneven arrival over 4 s, and one smaller frame (the page sends the region around the face).
    times = [0.0, 0.3, 0.5, 1.4, 2.0, 2.1, 3.0, 4.0]
    for t, frame in zip(times, face_frames):
        assert recording.add(t + 10.0, frame)
    assert recording.add(4.5 + 10.0, jpeg(120, 90))
    path = tmp_path / "session.mp4"
    written = recording.write_video(str(path), fps=10)
    info = probe(str(path))
    assert info.kind == "video" and written == 46 and info.duration == pytest.approx(4.6, abs=0.05)
    assert (info.width, info.height) == (256, 256)
    full = Recording(max_bytes=len(face_frames[0]) + 10, parent=str(tmp_path))
    assert full.add(0.0, face_frames[0]) and not full.add(0.1, face_frames[1]) and full.full
    recording.discard()
    full.discard()
    assert [p.name for p in tmp_path.iterdir()] == ["session.mp4"]
