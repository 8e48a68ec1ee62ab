"""The live check page in Debian's chromium, its camera a fake device playing a real face clip from the shared
data (converted here to .y4m): the camera is granted, scores arrive, the verdict updates, and a deepfake clip
gives a higher running score than a real one. The same for sharing a tab: another tab of the same browser
plays the clip and chromium picks it for ``getDisplayMedia`` by its title (no picker, headless). The page is
served by daphne and the frames scored by the real test worker. Screenshots at 1280 and 390 px go to
$TEST_ARTIFACTS/screenshots/ (`make screenshots` copies them to docs/screenshots/).
"""
from __future__ import annotations

import pytest
from django.urls import reverse

from detection.models import Media

from tests.conftest import CHROMIUM, _user, browser_log_in, ffmpeg
from tests.live_support import asgi_server, clip_pair  # noqa: F401
from tests.portal.test_browser_pages import DESKTOP, PHONE, _fits, _screenshot

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


def open_live_page(browser, base: str, viewport: dict, *flags: str):
    """A chromium of its own (media flags are chosen at launch), logged in as alice, on the live page."""
    chromium = browser.browser_type.launch(executable_path=CHROMIUM, args=["--no-sandbox", *flags])
    context, page = browser_log_in(chromium, base, "alice", reverse("live:page"), viewport)
    page.set_default_timeout(60_000)
    return chromium, context, page


def camera_flags(camera) -> tuple[str, ...]:
    """A fake camera playing ``camera``, granted without asking."""
    return ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}")


def watch(page, frames: int, button: str = "#live-camera") -> dict:
    """Start the camera (or the screen sharing) and wait for ``frames`` scored frames and a verdict (on a slow
    or cold worker, fewer than the verdict's minimum of faces may fall in the running window); what the page
    then shows."""
    assert page.locator("#live-verdict-text").inner_text() == "Not started"
    page.click(button)
    page.wait_for_function(f"{SCORED} >= 1")
    early = page.locator("#live-verdict").get_attribute("data-key")
    page.wait_for_function(f"{SCORED} >= {frames}")
    page.wait_for_function("document.getElementById('live-verdict').dataset.key !== 'waiting'")
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

    chromium, _, page = open_live_page(browser, asgi_server, DESKTOP, *camera_flags(cameras["real"]))
    real = watch(page, 10)
    chromium.close()
    assert real["early"] == "waiting", real  # the verdict waits for a few frames, then updates
    assert real["verdict"] == "authentic" and real["text"] == "Looks authentic so far", real
    assert real["heatmaps"] >= 1

    chromium, _, page = open_live_page(browser, asgi_server, DESKTOP, *camera_flags(cameras["fake"]))
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


SHARED_TAB_TITLE = "Face clip to share"


@pytest.fixture(scope="module")
def shared_tabs(clip_pair, tmp_path_factory) -> dict:
    """Each clip in a page of its own (a file:// URL), to be opened in a tab and shared."""
    out = tmp_path_factory.mktemp("shared-tabs")
    return {name: player_page(clip, out / f"{name}.html") for name, clip in clip_pair.items()}


def player_page(clip, html) -> str:
    """A page titled SHARED_TAB_TITLE that plays ``clip`` in a loop over the whole tab; its file:// URL."""
    html.write_text(f'<!doctype html><title>{SHARED_TAB_TITLE}</title><body style="margin:0;background:#000">'
                    f'<video src="{clip.as_uri()}" autoplay muted loop '
                    'style="display:block;width:100vw;height:100vh;object-fit:contain"></video>')
    return html.as_uri()


def share_tab(browser, base: str, tab_url: str) -> tuple:
    """The live page, with a tab playing ``tab_url`` open beside it in the same browser, which chromium picks
    by its title when the page asks to share a tab/window/screen (no --use-fake-ui-for-media-stream: with it,
    getDisplayMedia fails with NotReadableError)."""
    chromium, context, page = open_live_page(
        browser, base, DESKTOP, f"--auto-select-tab-capture-source-by-title={SHARED_TAB_TITLE}")
    tab = context.new_page()
    tab.set_viewport_size({"width": 640, "height": 480})  # a smaller tab is cheaper to capture
    tab.goto(tab_url)
    tab.wait_for_function("document.querySelector('video').currentTime > 0.2")
    page.bring_to_front()
    return chromium, page


@pytest.mark.django_db(transaction=True)
def test_the_live_page_scores_a_shared_tab_and_a_deepfake_scores_higher(asgi_server, celery_worker, browser,
                                                                        shared_tabs):
    _user("alice")
    seen = {}
    for name in ("real", "fake"):
        chromium, page = share_tab(browser, asgi_server, shared_tabs[name])
        seen[name] = watch(page, 8, "#live-screen")
        seen[name]["surface"] = page.evaluate(
            "document.getElementById('live-video').srcObject.getVideoTracks()[0].getSettings().displaySurface")
        assert page.locator("#live-last").inner_text() != "no face", seen[name]
        chromium.close()
    real, fake = seen["real"], seen["fake"]
    assert real["surface"] == fake["surface"] == "browser", seen  # a tab, not a fake camera or the screen
    assert real["verdict"] == "authentic" and real["heatmaps"] >= 1, real
    assert fake["running"] > real["running"] + 0.3, seen
    assert fake["verdict"] in ("suspicious", "inconclusive"), fake
