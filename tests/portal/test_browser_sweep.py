"""Every page a person reaches fits a phone (issue 32): chromium at 390 and 1280 px over the front page, sign-up,
log-in, upload, each kind of result, History, profile, a new token, live check, moderation queue, review,
health, the registry and the admin lists: ``document.scrollingElement.scrollWidth <= innerWidth`` on each, the
menu collapsed behind one button on a phone, and a screenshot of each at both widths in
$TEST_ARTIFACTS/screenshots/ (``make screenshots`` copies them to docs/screenshots/). The results include a photo
without a face read as a whole picture, and one too small for that."""
import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from detection import jobs, verdicts
from detection.models import DetectionJob, WholeImageEvidence
from moderation import services
from registry.models import ModelVersion

from tests.conftest import TEST_PASSWORD, browser_log_in
from tests.moderation_support import make_user
from tests.portal.test_browser_pages import DESKTOP, PHONE, _screenshot
from tests.detection.test_results import make_analysis
from tests.detection.test_whole_image import landscape

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_NAME = "a-very-long-file-name-from-a-phone-camera-without-any-spaces-20261206_091512_HDR_portrait_mode.mp4"


@pytest.fixture
def site(settings, tmp_path, owner):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    video = make_analysis(owner, name=LONG_NAME, score=0.93)
    image = make_analysis(owner, name="portrait.jpg", kind="image", score=0.52, frames=1)
    faceless = make_analysis(owner, name="landscape.jpg", kind="image", status="running")
    jobs.job_fail(job_id=faceless.job.pk, code="no_face", message="No face was found, so there is nothing to judge.")
    WholeImageEvidence.objects.create(job=faceless.job, status="skipped", reason_code="too_small",
                                      reason="the picture is under 64 pixels on its shorter side.")
    # Issue 32: a landscape without a face, judged as a whole picture.
    whole = make_analysis(owner, name="mountain-lake-at-dawn.jpg", kind="image", frames=0, score=0.08)
    DetectionJob.objects.filter(pk=whole.job.pk).update(faces_found=0, verdict=verdicts.AUTHENTIC, verdict_reason="",
                                                        verdict_driver="whole_image", threshold=0.5)
    WholeImageEvidence.objects.create(job=whole.job, status="ok", score=0.08, threshold=0.5,
                                      model_version="whole-image-probe-v1")
    (settings.PRIVATE_MEDIA_ROOT / whole.file.name).write_bytes(landscape(640, 360))
    ModelVersion.objects.create(version="clip-v4-frozen8-full-refit", sha256="0" * 64, file="models/x.pt",
                                card={"version": "clip-v4-frozen8-full-refit", "threshold": 0.37,
                                      "metrics": {"dev": {"auc": 0.81, "auc_ci95": [0.7, 0.9]}}})
    item = services.flag_if_needed(job_id=video.job.pk)
    moderator = make_user("mod")  # the permission, not the group: a transactional test flushes the groups
    moderator.user_permissions.add(Permission.objects.get(codename="review_media", content_type__app_label="detection"))
    User.objects.create_superuser("root", "root@example.com", TEST_PASSWORD)
    return {"video": video, "image": image, "faceless": faceless, "whole": whole, "item": item}


def _fits_and_shot(page, name: str, width: int) -> None:
    wide = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    _screenshot(page, f"sweep-{name}-{'phone' if width == PHONE['width'] else 'desktop'}.png")
    assert wide[0] <= wide[1], f"{name} at {width} px scrolls sideways: {wide[0]} > {wide[1]}"


def _menu_collapses(page) -> None:
    nav = page.locator("#site-nav")
    toggle = page.locator("#menu-toggle")
    assert toggle.is_visible() and not nav.is_visible()
    assert page.locator("header.top").bounding_box()["height"] < 80  # one row, not three
    toggle.click()
    assert nav.is_visible() and toggle.get_attribute("aria-expanded") == "true"
    toggle.click()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_no_page_scrolls_sideways(live_server, browser, site, owner, viewport):
    base, width = live_server.url, viewport["width"]
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(30_000)
    for name, url in (("front", "/"), ("signup", reverse("signup")), ("login", reverse("login"))):
        page.goto(base + url)
        _fits_and_shot(page, name, width)
    context.close()

    owner_pages = [
        ("upload", reverse("detection:upload")),
        ("result-video", reverse("detection:result", args=[site["video"].pk])),
        ("result-image", reverse("detection:result", args=[site["image"].pk])),
        ("result-faceless", reverse("detection:result", args=[site["faceless"].pk])),
        ("result-whole-image", reverse("detection:result", args=[site["whole"].pk])),
        ("history", reverse("detection:history")),
        ("profile", reverse("profile")),
        ("live", reverse("live:page")),
    ]
    context, page = browser_log_in(browser, base, owner.username, owner_pages[0][1], viewport)
    if width == PHONE["width"]:
        _menu_collapses(page)
    for name, url in owner_pages:
        page.goto(base + url)
        if name == "result-whole-image":  # its own kind of evidence, in its words
            assert page.locator("#whole-image-summary").inner_text().startswith("The whole picture looks camera-made")
        _fits_and_shot(page, name, width)
    page.goto(base + reverse("profile"))
    page.fill("#token-name", "phone test")
    page.locator("#token-form button[type=submit]").click()  # a new token, shown once
    page.wait_for_selector("#new-token")
    _fits_and_shot(page, "token", width)
    context.close()

    context, page = browser_log_in(browser, base, "mod", reverse("moderation:queue"), viewport)
    page.set_default_navigation_timeout(120_000)  # the health page reads the model card: slow on a busy machine
    for name, url in (("queue", reverse("moderation:queue")),
                      ("review", reverse("moderation:review", args=[site["item"].pk])),
                      ("health", reverse("moderation:health"))):
        page.goto(base + url)
        _fits_and_shot(page, name, width)
    context.close()

    context, page = browser_log_in(browser, base, "root", reverse("admin:index"), viewport)
    for name, url in (("admin-users", reverse("admin:auth_user_changelist")),
                      ("admin-jobs", reverse("admin:detection_detectionjob_changelist")),
                      ("registry", reverse("admin:registry_modelversion_changelist")),
                      ("registry-card", reverse("admin:registry_modelversion_change",
                                                args=[ModelVersion.objects.get().pk]))):
        page.goto(base + url)
        _fits_and_shot(page, name, width)
    context.close()
