"""Issue 31 end to end: a dev fake photo that the detector catches is PGD-perturbed here (on the photo's pixels,
through the worker's own face crop, encoder and head) until the worker's path would call it "likely
authentic"; uploaded through the API and analysed by the real worker, the tamper check catches it: the
verdict is "inconclusive: may have been altered to evade detection", the item is in the moderation queue
with that reason, and the result page (Playwright, Debian chromium) says why in words."""
from __future__ import annotations

import pytest
import torch
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from detection import verdicts
from detection.models import Media
from moderation.models import ModerationItem
from tests import adversarial_media as am
from tests.api_support import api_token, fresh_throttle_counts, owner_api, private_files_removed  # noqa: F401
from tests.conftest import TEST_PASSWORD, require, shared_data_dir, wait_for_job
from tests.moderation_support import make_user
from tests.api.test_api_analyses import create


@pytest.fixture(scope="module")
def perturbed_fake(tmp_path_factory):
    from ml.inference.predictor import Predictor
    from ml.models.checkpoint import load_checkpoint

    data = shared_data_dir()
    require((data / "dev" / "labels.csv").is_file(), f"shared dev data not found at {data / 'dev'}")
    torch.set_num_threads(1)
    predictor = Predictor.load(settings.DETECTOR_CHECKPOINT, backend="onnx", threads=1)  # the worker's path
    assert predictor.tamper is not None, "ml/weights/tamper.json has no threshold for the shipped model"
    model, card = load_checkpoint(settings.DETECTOR_CHECKPOINT)
    model.requires_grad_(False)
    band = settings.RESULT_INCONCLUSIVE_BAND
    out = tmp_path_factory.mktemp("tamper")
    for path in am.dev_fakes(data)[:8]:
        clean = predictor.predict(str(path))
        if clean.status != "ok" or clean.score < predictor.threshold + band:
            continue
        photo, _ = am.perturb(am.load_photo(path), model, card)
        attacked = out / "attacked.png"
        attacked.write_bytes(am.png_bytes(photo))
        # The attack works on the worker's path: without the tamper check this fake would read "likely authentic".
        unchecked = predictor.predict(str(attacked))
        assert unchecked.status == "ok" and unchecked.score < predictor.threshold - band, (path, unchecked.score)
        assert (abs(photo.astype(int) - am.load_photo(path).astype(int))).max() <= 8  # eps = 8/255
        return {"source": path, "clean": clean.score, "attacked": unchecked.score, "png": attacked.read_bytes()}
    pytest.fail("none of the first dev StyleGAN2 fakes reads 'likely fake' clean")


@pytest.mark.browser
@pytest.mark.worker
def test_a_pgd_perturbed_fake_reaches_the_moderators_with_the_tamper_reason_and_the_page_says_why(
        live_server, celery_worker, browser, perturbed_fake, owner, owner_api):
    response = create(owner_api, "holiday-photo.png", perturbed_fake["png"])
    assert response.status_code == 201, response.content[:500]
    pk = response.json()["id"]
    job = wait_for_job(Media.objects.get(pk=pk).job.pk, celery_worker)
    assert job.status == "done", (job.error_code, celery_worker.log_tail())
    assert (job.verdict, job.verdict_reason) == (verdicts.INCONCLUSIVE, verdicts.MAY_BE_ALTERED), (
        job.score, job.timings, celery_worker.log_tail())
    assert job.score < job.threshold - settings.RESULT_INCONCLUSIVE_BAND  # the detector alone was fooled
    assert "tamper" in job.timings  # the check's cost is recorded beside the other stages

    item = ModerationItem.objects.get(job=job)
    assert item.may_be_altered and "may_be_altered" in item.reasons
    assert "May have been altered to evade detection" in item.reason_labels
    body = owner_api.get(f"/api/v1/analyses/{pk}/").json()
    assert body["reason"] == verdicts.MAY_BE_ALTERED and "altered to evade detection" in body["reason_words"]

    moderator = make_user("mod")
    moderator.user_permissions.add(Permission.objects.get(codename="review_media", content_type__app_label="detection"))
    staff = Client()
    staff.force_login(moderator)
    queue = staff.get(reverse("moderation:queue"), {"reason": "may_be_altered"})
    assert queue.status_code == 200 and "holiday-photo.png" in queue.content.decode()

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{live_server.url}{reverse('login')}")
    page.fill("#id_username", owner.username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}{reverse('detection:result', args=[pk])}")
    assert "Inconclusive" in page.locator("#verdict").inner_text()
    reason = page.locator("#verdict-reason")
    assert reason.get_attribute("data-reason") == verdicts.MAY_BE_ALTERED
    assert "may have been altered to evade detection" in reason.inner_text()
    assert "Likely authentic" not in page.locator("#verdict").inner_text()
    context.close()
