"""Playwright against the live server with the real worker: the whole journey through the result pages.

Sign up, log out and in, upload a real face clip, watch the progress reach a verdict, check that the
timeline, the video and the heatmaps really render (not just exist in the HTML), seek from the timeline,
toggle the overlay, enlarge a frame, download both reports, upload an image and a corrupt file, delete,
log out. Screenshots of the result page at desktop and phone width are saved as test artifacts in
$TEST_ARTIFACTS (default test-artifacts/) and copied to docs/screenshots/ by `make screenshots`.
"""
import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.conftest import REPO, TEST_PASSWORD, ffmpeg, require

SCREENSHOTS = Path(os.environ.get("TEST_ARTIFACTS", REPO / "test-artifacts")) / "screenshots"
VERDICTS = ("Likely fake", "Likely authentic", "Inconclusive")


@pytest.fixture(scope="module")
def still_and_broken(clips, tmp_path_factory):
    """A JPEG still of the face clip, and the clip cut short so it no longer decodes."""
    out = tmp_path_factory.mktemp("browser-media")
    still = out / "face-still.jpg"
    ffmpeg("-ss", "0.5", "-i", str(clips["face"]), "-frames:v", "1", "-q:v", "3", str(still))
    broken = out / "broken.mp4"
    broken.write_bytes(clips["face"].read_bytes()[:2000])
    return still, broken


def _all_images_loaded(page, selector: str) -> None:
    # The images load lazily, as a reader scrolls to them (the voice evidence sits above them on a video's page).
    images = page.locator(selector)
    for i in range(images.count()):
        images.nth(i).scroll_into_view_if_needed()
    page.wait_for_function(
        """sel => { const imgs = [...document.querySelectorAll(sel)];
                    return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }""",
        arg=selector,
    )


def _small_png(path: Path) -> None:
    """Screenshots go into the repository: a 256-colour palette keeps them small."""
    from PIL import Image

    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=256).save(path, optimize=True)


def _upload(page, base_url: str, path: Path) -> None:
    """Choose a file on the upload page: its script sends it at once and lists it with a link to its
    result (followed here) or with its error (tests/detection/test_browser_upload.py covers that page itself)."""
    page.goto(f"{base_url}/")
    page.set_input_files("#id_file", str(path))
    item = page.locator("#upload-list .upload-item").last
    item.locator(".upload-link, .upload-error").first.wait_for()
    if item.locator(".upload-link").count():
        item.locator(".upload-link").click()


@pytest.mark.browser
@pytest.mark.worker
def test_the_result_pages_in_a_real_browser(live_server, celery_worker, browser, clips, still_and_broken):
    base = live_server.url
    still, broken = still_and_broken
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)

    # Sign up (which logs in), log out, log back in.
    page.goto(f"{base}/accounts/signup/")
    page.fill("#id_username", "browser-user")
    page.fill("#id_email", "browser@example.com")
    page.fill("#id_password1", TEST_PASSWORD)
    page.fill("#id_password2", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.click("button:has-text('Log out')")
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", "browser-user")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"{base}/")

    # A real face clip: the progress bar updates in place, then the verdict appears.
    _upload(page, base, clips["face"])
    page.wait_for_url("**/media/*/")
    if page.locator("#progress").count():
        assert page.locator("#stages li").count() == 8  # the face stages, then the voice and the lip-sync check
        assert page.locator("#stage").inner_text()
    verdict = page.locator("#verdict")
    verdict.wait_for(timeout=240_000)
    text = verdict.inner_text()
    assert any(v in text for v in VERDICTS), (text, celery_worker.log_tail())
    assert page.locator("#model-version").inner_text().strip()
    assert page.locator("#score").inner_text().strip()

    # The timeline has one point per analysed face, drawn in an SVG that has a size.
    rows = page.locator("#frames tbody tr").count()
    assert rows > 0
    points = page.locator("#timeline svg g.point")
    assert points.count() == rows
    box = page.locator("#timeline svg").bounding_box()
    assert box and box["width"] > 200 and box["height"] > 100

    # The heatmaps really loaded, and the video can seek from the timeline.
    _all_images_loaded(page, "#heatmaps .frame-image")
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    times = [float(points.nth(i).get_attribute("data-time")) for i in range(points.count())]
    latest = max(range(len(times)), key=lambda i: times[i])
    assert times[latest] > 0
    points.nth(latest).click()
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {times[latest]}) < 0.05")
    playhead_x = float(page.locator("#timeline .playhead").get_attribute("x1"))
    assert playhead_x > 40 + 1
    # ... and from the keyboard.
    earliest = min(range(len(times)), key=lambda i: times[i])
    points.nth(earliest).focus()
    page.keyboard.press("Enter")
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {times[earliest]}) < 0.05")
    assert float(page.locator("#timeline .playhead").get_attribute("x1")) < playhead_x

    # Overlay off shows the plain frames (loaded too); on again shows the heatmaps.
    first = page.locator("#heatmaps .frame-image").first
    assert "/heatmap/" in first.get_attribute("src")
    page.uncheck("#overlay-toggle")
    assert "/thumbnail/" in first.get_attribute("src")
    _all_images_loaded(page, "#heatmaps .frame-image")
    page.check("#overlay-toggle")
    assert "/heatmap/" in first.get_attribute("src")
    assert "not proof" in page.locator("#heatmap-caveat").inner_text()

    # A frame enlarges in a dialog that Escape closes.
    page.locator(".frame-button").first.click()
    page.wait_for_function("document.getElementById('frame-dialog').open")
    _all_images_loaded(page, "#frame-dialog-image")
    assert page.evaluate("document.getElementById('frame-dialog-image').naturalWidth") >= \
        page.evaluate("document.querySelector('#heatmaps .frame-image').naturalWidth")
    page.keyboard.press("Escape")
    page.wait_for_function("!document.getElementById('frame-dialog').open")

    # Screenshots at desktop and phone width.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.getElementById('player').pause()")
    page.wait_for_function("(v => !v.seeking && v.readyState >= 2)(document.getElementById('player'))")
    page.screenshot(path=str(SCREENSHOTS / "result-desktop.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(400)  # the timeline redraws for the new width
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SCREENSHOTS / "result-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    for name in ("result-desktop.png", "result-phone.png"):
        _small_png(SCREENSHOTS / name)

    # Both reports download: the JSON matches the page, the PDF is a PDF.
    with page.expect_download() as download:
        page.click("#report-json")
    report = json.loads(Path(download.value.path()).read_text())
    assert report["file"]["name"] == clips["face"].name
    assert report["file"]["sha256"] == hashlib.sha256(clips["face"].read_bytes()).hexdigest()
    assert report["analysis"]["verdict_words"] in text
    assert len(report["frames"]) == rows and report["model"]["version"]
    with page.expect_download() as download:
        page.click("#report-pdf")
    assert Path(download.value.path()).read_bytes()[:5] == b"%PDF-"
    assert download.value.suggested_filename.endswith(".pdf")

    # An image gets the same page: the image, its faces, their scores and heatmaps.
    _upload(page, base, still)
    page.wait_for_url("**/media/*/")
    page.locator("#verdict").wait_for(timeout=240_000)
    assert any(v in page.locator("#verdict").inner_text() for v in VERDICTS), celery_worker.log_tail()
    _all_images_loaded(page, "#source-image")
    assert page.locator("#image-faces .face-box").count() >= 1
    assert page.locator("#face-list li").count() >= 1
    _all_images_loaded(page, "#heatmaps .frame-image")
    image_result_url = page.url

    # A corrupt file is refused with its reason in plain words.
    _upload(page, base, broken)
    assert "damaged" in page.locator("#upload-list .upload-error").inner_text()

    # History lists both with a verdict and a thumbnail; deleting the image removes it.
    page.goto(f"{base}/history/")
    assert page.locator("#history .history-item").count() == 2
    _all_images_loaded(page, "#history .history-thumb img")
    page.goto(image_result_url)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Delete upload')")
    page.wait_for_url("**/history/")
    assert page.locator("#history .history-item").count() == 1
    assert page.goto(image_result_url).status == 404

    page.goto(f"{base}/history/")
    page.click("button:has-text('Log out')")
    page.wait_for_url("**/accounts/login/**")
    context.close()
