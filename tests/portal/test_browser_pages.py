"""Playwright against the live server: the front page a visitor meets and the model health page a moderator
reads, at desktop (1280 px) and phone (390 px) width. Both must render (pictures loaded, charts with a size),
fit a phone without sideways scrolling, and are saved as screenshots in $TEST_ARTIFACTS/screenshots/
(default test-artifacts/), which `make screenshots` copies to docs/screenshots/.
"""
import os
import random
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from detection.models import DetectionJob
from moderation import selectors

from tests.conftest import REPO, browser_log_in, require
from tests.moderation_support import make_job, make_user

SCREENSHOTS = Path(os.environ.get("TEST_ARTIFACTS", REPO / "test-artifacts")) / "screenshots"
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}

pytestmark = pytest.mark.browser


@pytest.fixture
def own_private_root(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


def _screenshot(page, name: str) -> None:
    """A full-page screenshot with a 256-colour palette, small enough to keep in the repository."""
    from PIL import Image

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=256).save(path, optimize=True)


def _fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "the page scrolls sideways"


def test_the_front_page_in_a_real_browser(live_server, browser):
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{base}/")

    assert page.locator("h1").inner_text().startswith("Is that face real?")
    assert "screening signal, not proof" in page.locator("#does-not").inner_text()
    assert "Only you." in page.locator("#your-upload").inner_text()
    sample = page.locator("#sample-image")
    sample.scroll_into_view_if_needed()
    page.wait_for_function("(i => i.complete && i.naturalWidth > 0)(document.getElementById('sample-image'))")
    chart = page.locator("#sample-chart").bounding_box()  # the sample's frame and its chart side by side
    assert sample.bounding_box()["width"] > 300 and chart["width"] > 300 and chart["x"] > sample.bounding_box()["x"]
    _screenshot(page, "front-desktop.png")

    # Keyboard first: the first link after the header's is the sign-up call to action.
    signup = page.locator("#signup-link")
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "signup-link":
            break
    assert page.evaluate("document.activeElement.id") == "signup-link"

    page.set_viewport_size(PHONE)
    page.goto(f"{base}/")
    _fits(page, PHONE["width"])
    box = page.locator("#sample-image").bounding_box()
    assert 300 < box["width"] <= PHONE["width"]
    assert signup.bounding_box()["width"] <= PHONE["width"]
    _screenshot(page, "front-phone.png")

    # The calls to action lead where they say.
    signup.click()
    page.wait_for_url(f"**{reverse('signup')}")
    page.goto(f"{base}/")
    page.click("#login-link")
    page.wait_for_url(f"**{reverse('login')}")
    context.close()


@pytest.fixture
def two_weeks_of_jobs(transactional_db, own_private_root, settings, monkeypatch):
    """Ten days of jobs of varying number, speed and outcome, and over 200 scores this week that lean lower than
    the reference (a card histogram like the shipped model's)."""
    settings.MODERATION_SCORE_THRESHOLD = 2.0  # nothing is flagged: these jobs only feed the health numbers
    rng = random.Random(13)
    owner = make_user("alice")
    now = timezone.now()
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    today_so_far = max(1.0, (now - midnight).total_seconds() - 120)  # every job is queued on its own day
    for days_ago in range(9, -1, -1):
        for _ in range(rng.randint(20, 45)):
            when = midnight - timedelta(days=days_ago) + timedelta(seconds=rng.uniform(0, today_so_far))
            if rng.random() < 0.08:
                make_job(owner, status="failed", error_code=rng.choice(["no_face", "no_face", "corrupt_media"]),
                         queued_at=when, frames=0)
            else:
                score = min(0.999, max(0.0, rng.betavariate(2, 5) if rng.random() < 0.8 else rng.random()))
                make_job(owner, score=score, seconds=rng.uniform(0.4, 1.5 + days_ago / 4), queued_at=when, frames=0)
    reference = {"bins": [k / 10 for k in range(11)], "counts": [1, 6, 13, 18, 11, 14, 19, 6, 7, 45]}
    monkeypatch.setattr(selectors, "model_card", lambda: {"version": "sbi-swap", "validation_scores": reference})
    # A moderator by permission: the groups the data migration made are gone once a transactional test flushed.
    moderator = make_user("mod")
    moderator.user_permissions.add(Permission.objects.get(codename="review_media", content_type__app_label="detection"))
    week = DetectionJob.objects.filter(status="done", finished_at__gte=now - timedelta(days=7)).count()
    return {"scores_this_week": week}


def test_the_health_page_in_a_real_browser(live_server, browser, two_weeks_of_jobs):
    context, page = browser_log_in(browser, live_server.url, "mod", reverse("moderation:health"), DESKTOP)

    n = two_weeks_of_jobs["scores_this_week"]
    assert n >= 200  # enough for the drift check
    assert f"Based on {n} scores" in page.locator("#based-on").inner_text()
    for chart in ("#jobs-chart", "#times-chart", "#score-chart"):
        box = page.locator(f"{chart} svg").bounding_box()
        assert box and box["width"] > 600 and box["height"] > 150, chart
    assert page.locator("#jobs-chart g.day").count() == 10
    assert page.locator("#times-chart circle.dot-median").count() == 10
    assert page.locator("#score-chart rect.bar").count() >= 8
    assert page.locator("#score-chart path.ref").count() == 1
    _screenshot(page, "health-desktop.png")

    page.set_viewport_size(PHONE)
    page.reload()
    _fits(page, PHONE["width"])
    for chart in ("#jobs-chart", "#times-chart", "#score-chart"):
        box = page.locator(f"{chart} svg").bounding_box()
        assert box and 300 < box["width"] <= PHONE["width"], chart
    _screenshot(page, "health-phone.png")
    context.close()
