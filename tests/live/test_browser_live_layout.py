"""The live page on a phone (issue 32): the verdict comes first, above the picture, and "Share a tab or screen" is
offered only where the browser has getDisplayMedia (chromium on a desktop has it; phone browsers do not, which
the test stands in for by removing it before the page's script runs)."""
import pytest
from django.urls import reverse

from tests.conftest import browser_log_in
from tests.portal.test_browser_pages import DESKTOP, PHONE, _fits

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NO_DISPLAY_MEDIA = "delete MediaDevices.prototype.getDisplayMedia;"


def _top(page, selector: str) -> float:
    return page.locator(selector).bounding_box()["y"]


def test_on_a_phone_the_verdict_comes_first_and_tab_sharing_is_not_offered(live_server, browser, owner):
    context, page = browser_log_in(browser, live_server.url, owner.username, reverse("detection:upload"), PHONE)
    context.add_init_script(NO_DISPLAY_MEDIA)
    page.goto(live_server.url + reverse("live:page"))
    assert page.evaluate("typeof navigator.mediaDevices.getDisplayMedia") == "undefined"
    assert _top(page, "#live-verdict") < _top(page, "#live-stage") < _top(page, "#live-chart")
    assert _top(page, "#live-verdict") < PHONE["height"]  # above the fold
    assert page.locator("#live-camera").is_visible() and not page.locator("#live-screen").is_visible()
    _fits(page, PHONE["width"])
    context.close()


def test_on_a_desktop_the_picture_is_beside_the_verdict_and_tab_sharing_is_offered(live_server, browser, owner):
    context, page = browser_log_in(browser, live_server.url, owner.username, reverse("detection:upload"), DESKTOP)
    page.goto(live_server.url + reverse("live:page"))
    assert page.evaluate("typeof navigator.mediaDevices.getDisplayMedia") == "function"
    assert page.locator("#live-screen").is_visible()
    stage, verdict = page.locator("#live-stage").bounding_box(), page.locator("#live-verdict").bounding_box()
    assert verdict["x"] > stage["x"] + stage["width"] - 1  # two columns: picture left, verdict right
    assert _top(page, "#live-verdict") < _top(page, "#live-chart")
    context.close()
