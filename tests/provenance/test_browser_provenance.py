"""Provenance end to end: the suite's signed and labelled files, uploaded through the API and analysed by the
real worker, each show their Content Credentials status on the result page (Playwright, Debian chromium),
in the API's analysis JSON and in the PDF report, beside the detector's verdict; the valid AI-generation
claim is flagged for moderators, who find it with the queue's provenance filter."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from detection.models import Media
from moderation.models import ModerationItem
from tests import provenance_media as pm
from tests.api_support import api_token, fresh_throttle_counts, owner_api, private_files_removed  # noqa: F401
from tests.conftest import TEST_PASSWORD, ffmpeg, wait_for_job
from tests.moderation_support import make_user
from tests.api.test_api_analyses import create
from tests.detection.test_browser import SCREENSHOTS, VERDICTS
from tests.detection.test_results import _pdf, _text

AI_CLIP = "ai-signed-clip.mp4"
EXPECTED = {**pm.EXPECTED,
            AI_CLIP: ("valid", f"Content Credentials: valid, signed by {pm.AI_SIGNER}, says: made with an AI tool",
                      True, False)}


@pytest.fixture(scope="module")
def provenance_uploads(clips, tmp_path_factory):
    """Every fixture made from a still of the real face clip (so the detector finishes), plus the clip
    itself signed with an AI claim; the worker's trust anchors are the trusted test root."""
    out = tmp_path_factory.mktemp("provenance-browser")
    still = out / "still.jpg"
    ffmpeg("-ss", "0.5", "-i", str(clips["face"]), "-frames:v", "1", "-q:v", "3", str(still))
    made = pm.provenance_set(still.read_bytes())
    files = dict(made.files)
    files[AI_CLIP] = pm.sign(clips["face"].read_bytes(), "video/mp4", made.trusted.issue(pm.AI_SIGNER),
                             generator="TestGen Video AI", source_type="trainedAlgorithmicMedia")
    pm.TRUST_ANCHORS.write_bytes(made.trusted.root_pem)
    return files


@pytest.mark.browser
@pytest.mark.worker
def test_each_fixture_shows_its_provenance_on_the_page_in_the_api_and_in_the_pdf(
        live_server, celery_worker, browser, provenance_uploads, owner, owner_api, tmp_path):
    analyses = {}
    for name, data in provenance_uploads.items():
        response = create(owner_api, name, data)
        assert response.status_code == 201, response.content[:500]
        analyses[name] = response.json()["id"]  # the upload's id (its job's may differ)
    jobs = {name: wait_for_job(Media.objects.get(pk=pk).job.pk, celery_worker) for name, pk in analyses.items()}
    assert all(job.status == "done" for job in jobs.values()), (
        {n: (j.status, j.error_code) for n, j in jobs.items()}, celery_worker.log_tail())

    # The API's analysis JSON: the provenance object beside the detector's own fields.
    for name, pk in analyses.items():
        status, words, ai_claim, ai_label = EXPECTED[name]
        body = owner_api.get(f"/api/v1/analyses/{pk}/").json()
        provenance = body["provenance"]
        assert provenance["status"] == status, (name, provenance)
        assert words in provenance["summary"] + " " + provenance["labels_summary"], (name, provenance)
        assert (provenance["ai_claim"], provenance["ai_label"]) == (ai_claim, ai_label), name
        assert body["verdict"] in ("fake", "authentic", "inconclusive")  # the verdict stays the detector's

    # The PDF report says the same, in words.
    client = Client()
    client.force_login(owner)
    for name, pk in analyses.items():
        text = _text(_pdf(client, jobs[name].media, tmp_path))
        assert "Provenance" in text and EXPECTED[name][1] in text, (name, text[:1500])

    # The result page: the panel beside the verdict, in a real browser.
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{live_server.url}{reverse('login')}")
    page.fill("#id_username", owner.username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    for name, pk in analyses.items():
        status, words = EXPECTED[name][:2]
        page.goto(f"{live_server.url}{reverse('detection:result', args=[pk])}")
        assert any(v in page.locator("#verdict").inner_text() for v in VERDICTS)
        panel = page.locator("#provenance")
        assert panel.is_visible()
        assert page.locator("#provenance-c2pa").get_attribute("data-status") == status, name
        assert words in " ".join(panel.inner_text().split()), (name, panel.inner_text())
        assert page.locator("#provenance-manifest").count() == 0  # the raw manifest is for moderators
        if name == "ai-signed.jpg":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            panel.screenshot(path=str(SCREENSHOTS / "provenance-panel.png"))
    context.close()

    # The valid AI claims (the image and the clip) are flagged with their reason; the queue filter finds them.
    flagged = {item.job.media.original_name: item for item in ModerationItem.objects.filter(ai_claim=True)}
    assert set(flagged) == {"ai-signed.jpg", AI_CLIP}
    assert all("ai_claim" in item.reasons for item in flagged.values())
    moderator = make_user("mod")  # by permission: a transactional test flushed the data migration's groups
    moderator.user_permissions.add(Permission.objects.get(codename="review_media", content_type__app_label="detection"))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}{reverse('login')}?next={reverse('moderation:queue')}")
    page.fill("#id_username", "mod")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"**{reverse('moderation:queue')}")
    page.select_option("#provenance-filter", "ai_claim")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**provenance=ai_claim**")
    rows = page.locator("#queue tbody tr")
    assert rows.count() == 2
    assert "AI-generation claim (Content Credentials)" in rows.first.inner_text()
    rows.locator("a", has_text="ai-signed.jpg").click()
    page.wait_for_url("**/moderation/items/*/")
    assert pm.AI_SIGNER in page.locator("#provenance").inner_text()
    page.click("#provenance-manifest summary")
    assert "trainedAlgorithmicMedia" in page.locator("#provenance-manifest pre").inner_text()
    context.close()
