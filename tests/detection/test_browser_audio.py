"""Issue 29 in chromium against a real worker: an mp3 of real speech, one of synthetic speech and a face video
whose sound track is a synthetic voice, uploaded through the API; each result page shows the voice evidence,
the spectrogram and the per-second strip synced with the player (a click seeks, the second playing is
outlined), the video's page the lip-sync evidence; the API JSON and the PDF carry the same; the moderator's
queue filters by "synthetic voice"."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from detection.models import EvidenceStatus, Media, VoiceEvidence
from moderation import services as moderation_services
from moderation.models import ModerationItem
from tests.api_support import api_token, fresh_throttle_counts, owner_api, private_files_removed  # noqa: F401
from tests.audio_media import audio_clips, synthetic_voice_video  # noqa: F401  (fixtures)
from tests.conftest import TEST_PASSWORD, wait_for_job
from tests.moderation_support import make_job, make_user
from tests.api.test_api_analyses import create
from tests.detection.test_browser import SCREENSHOTS, VERDICTS
from tests.detection.test_results import _pdf, _text


def login(browser, live_server, username: str, next_url: str = ""):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{live_server.url}{reverse('login')}" + (f"?next={next_url}" if next_url else ""))
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"**{next_url or '/'}")
    return context, page


def check_strip_seeks_the_player(page, name: str) -> None:
    """Clicking the third second seeks the player there and outlines that second; playing moves the outline."""
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    seconds = page.locator("#voice-strip .second")
    assert seconds.count() >= 3, name
    third = seconds.nth(2)
    start = float(third.get_attribute("data-start"))
    third.click()
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {start}) < 0.3")
    assert "current" in (third.get_attribute("class") or ""), name
    assert third.get_attribute("aria-current") == "time"
    # The spectrogram is drawn and clickable too: its left edge is the start of the sound.
    assert page.evaluate("document.getElementById('spectrogram').naturalWidth") > 0, name
    page.locator("#spectrogram").click(position={"x": 2, "y": 20})
    page.wait_for_function("document.getElementById('player').currentTime < 0.5")
    page.wait_for_function("document.querySelector('#voice-strip .second').classList.contains('current')")


@pytest.mark.browser
@pytest.mark.worker
def test_voice_evidence_on_the_page_in_the_api_the_pdf_and_the_moderation_queue(
        live_server, celery_worker, browser, audio_clips, synthetic_voice_video, owner, owner_api, tmp_path):
    uploads = {"real-speech.mp3": audio_clips["real_mp3"], "synthetic-speech.mp3": audio_clips["synthetic_mp3"],
               "dubbed-synthetic-voice.mp4": synthetic_voice_video}
    analyses = {}
    for name, path in uploads.items():
        response = create(owner_api, name, path.read_bytes())
        assert response.status_code == 201, response.content[:500]
        analyses[name] = response.json()["id"]
    jobs = {name: wait_for_job(Media.objects.get(pk=pk).job.pk, celery_worker) for name, pk in analyses.items()}
    assert all(job.status == "done" for job in jobs.values()), (
        {n: (j.status, j.error_code, j.error_message) for n, j in jobs.items()}, celery_worker.log_tail())

    # The API's analysis JSON carries the voice (per second too), the lip sync and the verdict's driver.
    for name, pk in analyses.items():
        body = owner_api.get(f"/api/v1/analyses/{pk}/").json()
        voice = body["voice"]
        assert voice["status"] == "ok" and 0.0 <= voice["score"] <= 1.0 and voice["model_version"], (name, voice)
        assert voice["seconds"] and voice["spectrogram_url"].startswith("http"), name
        assert body["verdict_driver"]["driver"] in ("face", "voice", "sync") and body["verdict_driver"]["words"]
        assert body["kind"] == ("video" if name.endswith(".mp4") else "audio")
        if name.endswith(".mp4"):
            assert body["sync"]["status"] == "ok" and body["sync"]["offset_seconds"] is not None, body["sync"]
        else:
            assert body["sync"] is None and body["verdict_driver"]["driver"] == "voice"

    # The PDF says the same, in words.
    client = Client()
    client.force_login(owner)
    for name, job in jobs.items():
        text = _text(_pdf(client, job.media, tmp_path))
        assert "The voice" in text and "synthetic-speech score" in text and job.voice.model_version in text, name
        assert "What drove it:" in text, name
        if name.endswith(".mp4"):
            assert "Lips and speech" in text and "best offset" in text, name

    # Each result page, in chromium: the verdict and what drove it, the voice evidence and the strip.
    context, page = login(browser, live_server, owner.username)
    for name, pk in analyses.items():
        page.goto(f"{live_server.url}{reverse('detection:result', args=[pk])}")
        assert any(v in page.locator("#verdict").inner_text() for v in VERDICTS)
        assert page.locator("#verdict-driver").inner_text().startswith("What drove it:")
        section = page.locator("#voice-evidence")
        assert section.is_visible() and "synthetic-speech score" in section.inner_text(), name
        assert page.locator("#voice-strip .second").count() == len(jobs[name].voice.seconds)
        tag = page.evaluate("document.getElementById('player').tagName")
        assert tag == ("VIDEO" if name.endswith(".mp4") else "AUDIO"), name
        check_strip_seeks_the_player(page, name)
        if name.endswith(".mp4"):
            assert "best offset" in page.locator("#sync-evidence").inner_text()
            assert page.locator("#timeline").is_visible()  # the face timeline stays
        else:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            section.screenshot(path=str(SCREENSHOTS / f"voice-{name.split('.')[0]}.png"))
    context.close()

    # Moderation: every job whose voice scored at or over its threshold is flagged "synthetic voice"; one more,
    # made here with a clearly synthetic score, makes sure the filter has something to find whatever the model says.
    extra = make_job(owner, score=0.2, kind="video")
    VoiceEvidence.objects.create(job=extra, status=EvidenceStatus.OK, score=0.99, threshold=0.5, model_version="v",
                                 duration=4.0, speech_seconds=3.5)
    moderation_services.flag_if_needed(job_id=extra.pk)
    expected = {item.job.media.original_name for item in ModerationItem.objects.filter(synthetic_voice=True)}
    voiced = {name for name, job in jobs.items() if job.voice.score >= job.voice.threshold}
    assert voiced <= expected and extra.media.original_name in expected
    moderator = make_user("mod")  # by permission: a transactional test flushed the data migration's groups
    moderator.user_permissions.add(Permission.objects.get(codename="review_media", content_type__app_label="detection"))
    context, page = login(browser, live_server, "mod", reverse("moderation:queue"))
    page.select_option("select[name=reason]", "synthetic_voice")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**reason=synthetic_voice**")
    rows = page.locator("#queue tbody tr")
    assert rows.count() == len(expected)
    assert all("Synthetic voice" in rows.nth(i).inner_text() for i in range(rows.count()))
    # The review page shows the moderator the same voice card (and, for a real upload, its strip and player).
    target = "synthetic-speech.mp3" if "synthetic-speech.mp3" in expected else extra.media.original_name
    rows.locator("a", has_text=target).click()
    page.wait_for_url("**/moderation/items/*/")
    assert "synthetic-speech score" in page.locator("#voice-evidence").inner_text()
    if target == "synthetic-speech.mp3":
        check_strip_seeks_the_player(page, target)
    context.close()
