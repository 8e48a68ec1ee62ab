"""The live check page in Debian's chromium, its camera a fake device playing a real face clip from the shared
data (converted here to .y4m): the camera is granted, scores arrive, the verdict updates, and a deepfake clip
gives a higher running score than a real one. The page is served by daphne and the frames scored by the
real test worker. Screenshots at 1280 and 390 px go to $TEST_ARTIFACTS/screenshots/ (`make screenshots`
copies them to docs/screenshots/).
"""
from __future__ import annotations

import pytest
from django.urls import reverse

from detection.models import Media

from .conftest import CHROMIUM, _user, browser_log_in, ffmpeg
from .live_support import asgi_server, clip_pair  # noqa: F401
from .test_browser_pages import DESKTOP, PHONE, _fits, _screenshot

pytestmark = [pytest.mark.browser, pytest.mark.worker]

SCORED = "Number(document.getElementById('live-scored').dataset.value)"


@pytest.fixture(scope="module")
def cameras(clip_pair, tmp_path_factory) -> dict:
    """Each clip as a raw .y4m file at its own size (no rescaling), which chromium's fake camera plays in a loop."""
    out = tmp_path_factory.mktemp("cameras")
    files = {}
    for name, clip in clip_pair.items():
        files[name] = out / f"{name}.y4m"
        ffmpeg("-i", str(clip), "-t", "6", "-an", "-vf", "fps=15", "-pix_fmt", "yuv420p", str(files[name]))
    return files


def open_live_page(browser, base: str, camera, viewport: dict):
    """A chromium of its own (the fake camera is chosen at launch), logged in as alice, on the live page."""
    chromium = browser.browser_type.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}"])
    _, page = browser_log_in(chromium, base, "alice", reverse("live:page"), viewport)
    page.set_default_timeout(60_000)
    return chromium, page


def watch(page, frames: int) -> dict:
    """Start the camera and wait for ``frames`` scored frames; what the page then shows."""
    assert page.locator("#live-verdict-text").inner_text() == "Not started"
    page.click("#live-camera")
    page.wait_for_function(f"{SCORED} >= 1")
    early = page.locator("#live-verdict").get_attribute("data-key")
    page.wait_for_function(f"{SCORED} >= {frames}")
    return {
        "early": early,
        "running": float(page.locator("#live-running").get_attribute("data-value")),
        "verdict": page.locator("#live-verdict").get_attribute("data-key"),
        "text": page.locator("#live-verdict-text").inner_text(),
        "heatmaps": page.locator("#live-heatmaps img").count(),
    }


@pytest.mark.django_db(transaction=True)
def test_the_live_page_scores_a_camera_and_a_deepfake_scores_higher(asgi_server, celery_worker, browser, cameras):
    owner = _user("alice")

    chromium, page = open_live_page(browser, asgi_server, cameras["real"], DESKTOP)
    real = watch(page, 10)
    chromium.close()
    assert real["early"] == "waiting", real  # the verdict waits for a few frames, then updates
    assert real["verdict"] == "authentic" and real["text"] == "Looks authentic so far", real
    assert real["heatmaps"] >= 1

    chromium, page = open_live_page(browser, asgi_server, cameras["fake"], DESKTOP)
    fake = watch(page, 10)
    assert fake["running"] > real["running"] + 0.3, (real, fake)
    assert fake["verdict"] in ("suspicious", "inconclusive") and fake["text"] != real["text"], fake
    page.wait_for_function("document.querySelectorAll('#live-heatmaps img').length === 4")
    page.wait_for_function("[...document.querySelectorAll('#live-heatmaps img')]"
                           ".every(i => i.complete && i.naturalWidth)")
    assert page.locator("#live-box").is_visible()  # the face's box over the picture
    _screenshot(page, "live-desktop.png")

    page.set_viewport_size(PHONE)
    page.wait_for_function(f"{SCORED} >= 14")
    _fits(page, PHONE["width"])
    assert page.locator("#live-video").bounding_box()["width"] <= PHONE["width"]
    _screenshot(page, "live-phone.png")

    # "Save this session": an ordinary upload of this user, linked from the page.
    page.click("#live-save")
    link = page.locator("#live-saved-link")
    link.wait_for(state="visible", timeout=120_000)
    media = Media.objects.get(owner=owner)
    assert link.get_attribute("href") == reverse("detection:result", args=[media.pk])
    assert media.kind == "video" and media.duration > 1
    page.click("#live-stop")
    page.wait_for_function("document.getElementById('live-camera').disabled === false")
    chromium.close()
