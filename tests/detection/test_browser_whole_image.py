"""A landscape photo in chromium (issue 32): uploaded through the page, analysed by the real worker, and its result
page, on a phone, gives the whole-picture answer in the same words as the API instead of "no face"."""
import pytest
from django.urls import reverse

from detection import whole_image
from detection.models import Media

from tests.conftest import browser_log_in, wait_for_job
from tests.portal.test_browser_pages import PHONE, _fits, _screenshot
from tests.detection.test_whole_image import landscape

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_landscape_uploaded_in_chromium_gets_a_whole_picture_answer(live_server, browser, celery_worker, owner,
                                                                      tmp_path):
    photo = tmp_path / "lake-at-dawn.jpg"
    photo.write_bytes(landscape())
    context, page = browser_log_in(browser, live_server.url, owner.username, reverse("detection:upload"), PHONE)
    plain = context.browser.new_context(java_script_enabled=False, storage_state=context.storage_state())
    form = plain.new_page()  # the plain form: one file, posted, then the result page
    form.goto(live_server.url + reverse("detection:upload"))
    form.set_input_files("#id_file", str(photo))
    form.click("form#upload-form button[type=submit]")
    form.wait_for_url("**/media/*/")
    plain.close()
    media = Media.objects.get(owner=owner)
    job = wait_for_job(media.job.pk, celery_worker, timeout=240)
    assert job.status == "done" and job.verdict_driver == "whole_image", (job.error_code, celery_worker.log_tail())

    page.goto(live_server.url + reverse("detection:result", args=[media.pk]))
    summary = page.locator("#whole-image-summary").inner_text()
    reading = whole_image.reading(job.whole_image)
    assert summary.startswith(reading) and reading in whole_image.READINGS.values()
    assert page.locator("#verdict [data-verdict]").inner_text() == job.verdict_obj.words
    assert "No face was found, so there is nothing to judge" not in page.locator("#job").inner_text()
    page.wait_for_function("(i => i.complete && i.naturalWidth > 0)(document.getElementById('source-image'))")
    _fits(page, PHONE["width"])
    _screenshot(page, "result-whole-image-phone.png")
    api = page.evaluate(f"fetch('{reverse('api:analysis_detail', args=[media.pk])}').then(r => r.json())")
    assert api["whole_image"]["reading"] == reading and api["verdict_words"] == job.verdict_obj.words
    context.close()
