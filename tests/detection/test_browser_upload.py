"""Playwright against the live server with the real worker: the upload page as people use it.

Several files at once (each its own analysis with its own progress, link and live status), drag and drop
onto the page (a drop event carrying a DataTransfer built in the page from a real clip's bytes), a
cancelled upload through a slow relay (nothing is stored), and files over the limits (each with its
own error). Screenshots of the page mid-upload with two files at 1280 and 390 px are saved as test
artifacts in $TEST_ARTIFACTS (default test-artifacts/); docs/screenshots/ holds copies for the README and docs/.
"""
import base64
import hashlib
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.urls import reverse

from detection.models import Media
from tests.conftest import TEST_PASSWORD, ffmpeg, require
from tests.detection.test_browser import SCREENSHOTS, VERDICTS, _small_png

pytestmark = [pytest.mark.browser, pytest.mark.worker]


@pytest.fixture(scope="module")
def media_files(clips, tmp_path_factory):
    """Real files to upload: the 2 s face clip, a JPEG still of it, and a second, different face clip."""
    out = tmp_path_factory.mktemp("upload-media")
    still = out / "face-still.jpg"
    ffmpeg("-ss", "0.5", "-i", str(clips["face"]), "-frames:v", "1", "-q:v", "3", str(still))
    mirrored = out / "face-mirrored.mp4"
    ffmpeg("-i", str(clips["face"]), "-vf", "hflip", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", str(mirrored))
    return {"clip": clips["face"], "still": still, "mirrored": mirrored, "no_face": clips["no_face"]}


@pytest.fixture(scope="module")
def large_clip(clips, tmp_path_factory):
    """The face clip at 720p, lossless and noisy: ~20 MB, more than the browser's socket buffers (4 MB at
    most here) can swallow, so an upload of it is still travelling when it is cancelled."""
    large = tmp_path_factory.mktemp("upload-large") / "face-large.mp4"
    ffmpeg("-i", str(clips["face"]), "-vf", "scale=1280:720,noise=alls=30:allf=t", "-c:v", "libx264",
           "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p", str(large))
    return large


@pytest.fixture
def page(live_server, browser, django_user_model, request):
    """A logged-in page on the upload form at desktop width, as a user of this test's own."""
    name = f"up-{request.node.name[:20]}".replace("[", "-").replace("]", "")
    user = django_user_model.objects.create_user(username=name, email=f"{name}@example.com", password=TEST_PASSWORD)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{live_server.url}{reverse('login')}")
    page.fill("#id_username", name)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("form.card button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{live_server.url}{reverse('detection:upload')}")
    page.locator("#upload-form.enhanced").wait_for()
    page.user = user
    yield page
    context.close()


class SlowRelay:
    """A TCP relay in front of the live server that passes the browser's bytes on at a set rate.

    DevTools' upload throttling only slows what the page reports: Chrome may still hand the whole body
    to the server at once, so a cancel can come after the server already has it. Here the server can
    only read what the relay has passed on, so a cancel mid-upload truly cuts the request short.
    Replies travel back unthrottled; ``rate = None`` lifts the limit.
    """

    def __init__(self, target: str, bytes_per_second: int | None):
        host, port = target.rsplit("//", 1)[1].rsplit(":", 1)
        self.target, self.rate = (host, int(port)), bytes_per_second
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # a small window
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.url = f"http://localhost:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source, sink, throttled: bool):
        try:
            while True:
                rate = self.rate if throttled else None
                chunk = source.recv(1024 if rate else 65536)
                if not chunk:
                    break
                sink.sendall(chunk)
                if rate:
                    time.sleep(len(chunk) / rate)
        except OSError:
            pass
        finally:  # one side gone (a cancelled upload closes its socket): close the other side too
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self):
        self.listener.close()


def _throttle(page, bytes_per_second: int | None) -> None:
    """Slow the page's upload progress down (DevTools network emulation); None lifts the limit."""
    session = getattr(page, "_cdp", None)
    if session is None:
        session = page._cdp = page.context.new_cdp_session(page)
        session.send("Network.enable")
    session.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": bytes_per_second if bytes_per_second else -1,
    })


def _stored_uploads() -> set[str]:
    root = Path(settings.PRIVATE_MEDIA_ROOT) / "uploads"
    return {str(p) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _items(page):
    return page.locator("#upload-list .upload-item")


def _wait_for_links(page, count: int, timeout: float = 60_000) -> list[str]:
    page.wait_for_function(f"document.querySelectorAll('#upload-list .upload-link').length === {count}",
                           timeout=timeout)
    return [a.get_attribute("href") for a in page.locator("#upload-list .upload-link").all()]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_limits_show_before_choosing_and_the_plain_form_is_kept(page, media_files, celery_worker):
    limits = page.locator("#upload-limits").inner_text()
    for words in ("mp4, mov, m4v, 3gp, webm, mkv, avi, mpg, ts, flv, wmv, ogv", "jpg, png, webp", "200 MB", "10 minutes"):
        assert words in limits, limits
    assert page.locator(".drop-hint").is_visible()
    assert page.evaluate("document.getElementById('id_file').multiple") is True
    # Without JavaScript the same page is the one-file form with its submit button.
    context = page.context.browser.new_context(java_script_enabled=False, storage_state=page.context.storage_state())
    plain = context.new_page()
    plain.goto(page.url)
    assert plain.locator("form#upload-form button[type=submit]").is_visible()
    assert plain.get_attribute("#id_file", "multiple") is None
    assert plain.locator("#upload-limits").inner_text() == limits
    # ... which posts and lands on the result page, as before.
    plain.set_input_files("#id_file", str(media_files["still"]))
    plain.click("form#upload-form button[type=submit]")
    plain.wait_for_url("**/media/*/")
    media = Media.objects.get(owner=page.user)
    assert plain.url.endswith(reverse("detection:result", args=[media.pk]))
    assert media.sha256 == _sha256(media_files["still"])
    context.close()


def test_several_files_at_once_each_get_their_own_analysis(page, media_files, celery_worker):
    files = [media_files["clip"], media_files["still"]]
    page.set_input_files("#id_file", [str(p) for p in files])
    assert _items(page).count() == 2
    assert [n.inner_text() for n in page.locator(".upload-name").all()] == [p.name for p in files]
    links = _wait_for_links(page, 2)
    media = {m.sha256: m for m in Media.objects.filter(owner=page.user)}
    assert len(media) == 2
    expected = [reverse("detection:result", args=[media[_sha256(p)].pk]) for p in files]
    assert links == expected
    # Each row follows its own job to a verdict, without a reload.
    page.wait_for_function(
        "[...document.querySelectorAll('#upload-list .upload-item')].every(li => li.dataset.state === 'done')",
        timeout=240_000)
    for job in page.locator("#upload-list .upload-job").all():
        assert any(v in job.inner_text() for v in VERDICTS), (job.inner_text(), celery_worker.log_tail())
    # The link opens the result page with the same verdict.
    page.locator("#upload-list .upload-link").first.click()
    page.wait_for_url(f"**{expected[0]}")
    page.locator("#verdict").wait_for()


def test_a_file_dropped_on_the_page_is_uploaded(page, media_files, celery_worker):
    clip = media_files["mirrored"]
    data = base64.b64encode(clip.read_bytes()).decode()
    dropped = page.evaluate(
        """([name, b64]) => {
             const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
             const dt = new DataTransfer();
             dt.items.add(new File([bytes], name, {type: "video/mp4"}));
             const fire = (type, target) => target.dispatchEvent(
               new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
             fire("dragenter", document.querySelector("main h1"));
             const overlayShown = !document.getElementById("drop-overlay").hidden;
             fire("dragover", document.querySelector("main h1"));
             const notCancelled = fire("drop", document.querySelector("main h1"));
             return {overlayShown, browserDefaultPrevented: !notCancelled,
                     overlayAfter: !document.getElementById("drop-overlay").hidden};
           }""",
        [clip.name, data],
    )
    assert dropped == {"overlayShown": True, "browserDefaultPrevented": True, "overlayAfter": False}
    assert page.locator(".upload-name").inner_text() == clip.name
    [link] = _wait_for_links(page, 1)
    media = Media.objects.get(owner=page.user)
    assert media.sha256 == _sha256(clip) and media.original_name == clip.name
    assert link == reverse("detection:result", args=[media.pk])
    page.wait_for_function("document.querySelector('#upload-list .upload-item').dataset.state === 'done'",
                           timeout=240_000)
    assert any(v in page.locator(".upload-job").inner_text() for v in VERDICTS), celery_worker.log_tail()


@pytest.fixture
def slow_relay(live_server):
    relay = SlowRelay(live_server.url, 64 * 1024)  # 64 KB/s: a 20 MB clip takes minutes to travel
    yield relay
    relay.close()


def test_a_cancelled_upload_stores_nothing(page, large_clip, celery_worker, slow_relay):
    before = _stored_uploads()
    clip, relay = large_clip, slow_relay
    assert clip.stat().st_size > 12 * 2**20, clip.stat().st_size
    page.goto(f"{relay.url}{reverse('detection:upload')}")  # same host: the session cookie goes along
    page.locator("#upload-form.enhanced").wait_for()
    page.set_input_files("#id_file", str(clip))
    item = _items(page).first
    page.wait_for_function(
        "(li => li && Number(li.dataset.loaded || 0) > 0)(document.querySelector('#upload-list .upload-item'))")
    loaded = int(item.get_attribute("data-loaded"))
    assert 0 < loaded < clip.stat().st_size
    assert 0 < page.eval_on_selector(".upload-progress", "p => p.value") < 100
    assert "Uploading" in item.locator(".upload-status").inner_text()
    item.locator(".upload-cancel").click()
    assert item.get_attribute("data-state") == "cancelled"
    assert "Cancelled" in item.locator(".upload-status").inner_text()
    assert item.locator(".upload-cancel").count() == 0 and item.locator(".upload-link").count() == 0
    relay.rate = None
    # Whatever part reached the server is dropped: no media, no job, no file, now or a little later.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        assert not Media.objects.filter(owner=page.user).exists()
        time.sleep(0.5)
    assert _stored_uploads() == before
    # The page still works after a cancel: the same file goes through on a second try.
    page.set_input_files("#id_file", str(clip))
    _wait_for_links(page, 1)
    assert Media.objects.get(owner=page.user).sha256 == _sha256(clip)


def test_files_over_the_limits_each_say_why(page, media_files, settings, live_server, celery_worker):
    clip, still, no_face = media_files["clip"], media_files["still"], media_files["no_face"]
    # A size limit between the small files and the clip, and a length limit under the 2 s clips.
    limit = (max(still.stat().st_size, no_face.stat().st_size) + clip.stat().st_size) // 2
    assert still.stat().st_size < limit < clip.stat().st_size and no_face.stat().st_size < limit
    settings.UPLOAD_MAX_BYTES = limit
    settings.UPLOAD_MAX_SECONDS = 1
    page.reload()
    page.locator("#upload-form.enhanced").wait_for()
    assert "1 second" in page.locator("#upload-limits").inner_text()
    size_words = page.locator("#limit-size").inner_text()
    assert "KB" in size_words
    before = _stored_uploads()

    page.set_input_files("#id_file", [str(clip), str(no_face), str(still)])
    rows = _items(page)
    assert rows.count() == 3
    # Too large: refused in the page, before a byte is sent.
    assert rows.nth(0).get_attribute("data-state") == "error"
    assert f"larger than {size_words}" in rows.nth(0).locator(".upload-error").inner_text()
    # Too long: the server's own error, for that file only.
    page.wait_for_function("document.querySelectorAll('#upload-list .upload-item')[1].dataset.state === 'error'")
    assert "longer than" in rows.nth(1).locator(".upload-error").inner_text()
    assert rows.nth(1).locator(".upload-error").get_attribute("role") == "alert"
    # The image within the limits goes through.
    _wait_for_links(page, 1)
    assert rows.nth(2).locator(".upload-link").count() == 1
    assert [m.sha256 for m in Media.objects.filter(owner=page.user)] == [_sha256(still)]
    assert len(_stored_uploads() - before) == 1


def test_screenshots_of_two_files_mid_upload(page, media_files, celery_worker):
    files = [media_files["clip"], media_files["mirrored"]]
    _throttle(page, 12 * 1024)  # the page's progress only (see SlowRelay): enough for a picture
    page.set_input_files("#id_file", [str(p) for p in files])
    page.wait_for_function(
        """[...document.querySelectorAll('#upload-list .upload-progress')]
             .filter(p => p.value >= 15 && p.value < 90).length === 2""", timeout=60_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "upload-desktop.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("#upload-list .upload-cancel").count() == 2  # still mid-upload
    page.screenshot(path=str(SCREENSHOTS / "upload-phone.png"), full_page=True)
    for name in ("upload-desktop.png", "upload-phone.png"):
        _small_png(SCREENSHOTS / name)
    _throttle(page, None)
    _wait_for_links(page, 2)
    assert Media.objects.filter(owner=page.user).count() == 2
