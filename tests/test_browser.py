"""Playwright against the live server with the real worker: sign up, upload, watch progress reach a verdict."""
import os
import shutil

import pytest

from tests.conftest import TEST_PASSWORD, require

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser():
    require(shutil.which(CHROMIUM) is not None or os.path.exists(CHROMIUM), f"chromium not found at {CHROMIUM}")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.mark.browser
@pytest.mark.worker
def test_sign_up_upload_and_see_the_verdict(live_server, celery_worker, browser, clips):
    page = browser.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{live_server.url}/accounts/signup/")
    page.fill("#id_username", "browser-user")
    page.fill("#id_email", "browser@example.com")
    page.fill("#id_password1", TEST_PASSWORD)
    page.fill("#id_password2", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.set_input_files("#id_file", str(clips["face"]))
    page.click("form button[type=submit]:has-text('Upload')")
    page.wait_for_url("**/media/*/")
    verdict = page.locator("#verdict")
    verdict.wait_for(timeout=180_000)
    assert "Verdict" in verdict.inner_text(), celery_worker.log_tail()
    assert page.locator("#frames tbody tr").count() > 0
    page.close()
