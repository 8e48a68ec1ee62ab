"""Provenance in the portal, in process: stored per media by the job, never costing the detector's result,
a valid AI-generation claim flags the item for moderators with its reason (a failed job's too, with
no verdict), and the queue filters by it."""
from __future__ import annotations

import io
import logging

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils.html import escape
from PIL import Image

from detection import detector as detection_detector, jobs
from detection.storage import private_storage
from moderation import services as moderation_services
from moderation.models import ModerationItem
from provenance.models import Provenance
from provenance.services import provenance_read
from tests import provenance_media as pm
from tests.moderation_support import make_job, make_user
from tests.detection.test_faults import fake_prediction, queued_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_private_root(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    buffer = io.BytesIO()
    Image.effect_noise((320, 240), 50).convert("RGB").save(buffer, "JPEG", quality=90)
    made = pm.provenance_set(buffer.getvalue())
    anchors = tmp_path_factory.mktemp("trust") / "anchors.pem"
    anchors.write_bytes(made.trusted.root_pem)
    return {"files": made.files, "anchors": str(anchors)}


@pytest.fixture
def trusted(settings, signed):
    settings.PROVENANCE_TRUST_ANCHORS = signed["anchors"]
    return signed["files"]


def job_with_file(owner, data: bytes, **fields):
    """A job whose upload holds ``data`` (a JPEG), done unless told otherwise."""
    job = make_job(owner, kind="image", **fields)
    with private_storage.open(job.media.file.name, "wb") as fh:
        fh.write(data)
    return job


def read(job):
    return provenance_read(media=job.media, path=private_storage.path(job.media.file.name))


@pytest.fixture
def detector(monkeypatch, tmp_path):
    """The detector's part of the job, as in tests/detection/test_faults.py: the job's own code stores its result."""
    prediction = fake_prediction(tmp_path)
    monkeypatch.setattr(detection_detector, "get_predictor",
                        lambda: type("P", (), {"card": {}, "threshold": 0.5, "predict": lambda *a, **k: prediction})())


def test_the_job_stores_provenance_beside_the_verdict(owner, trusted, detector):
    job = queued_job(owner, message_age=0)
    with private_storage.open(job.media.file.name, "wb") as fh:
        fh.write(trusted["ai-signed.jpg"])
    jobs.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "done" and job.score == 0.7
    provenance = Provenance.objects.get(media=job.media)
    assert provenance.c2pa_status == "valid" and provenance.ai_claim and provenance.signer == pm.AI_SIGNER
    assert '"c2pa.created"' in provenance.manifest_json and provenance.read_seconds > 0


def test_a_provenance_failure_keeps_the_detectors_result(owner, trusted, detector, monkeypatch, caplog):
    job = queued_job(owner, message_age=0)

    def broken(media, path):
        raise RuntimeError("reader exploded")

    monkeypatch.setattr("provenance.services._read", broken)
    with caplog.at_level(logging.ERROR, logger="provenance.services"):
        jobs.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "done" and job.score == 0.7 and job.frames.count() > 0
    assert not Provenance.objects.filter(media=job.media).exists()
    assert "provenance not read" in caplog.text


def test_a_read_past_its_time_limit_is_not_checked_and_the_job_finishes(owner, trusted, detector, settings):
    settings.PROVENANCE_TIMEOUT_SECONDS = 0.0001
    job = queued_job(owner, message_age=0)
    with private_storage.open(job.media.file.name, "wb") as fh:
        fh.write(trusted["ai-signed.jpg"])
    jobs.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "done"
    provenance = Provenance.objects.get(media=job.media)
    assert provenance.c2pa_status == "not_checked" and "took over" in provenance.c2pa_detail
    assert not provenance.ai_claim


def test_a_valid_ai_claim_flags_the_item_with_its_reason(owner, trusted):
    job = job_with_file(owner, trusted["ai-signed.jpg"], score=0.1)  # the detector alone would not flag it
    read(job)
    item = moderation_services.flag_if_needed(job_id=job.pk)
    assert item is not None and item.reasons == ["ai_claim"]
    assert item.reason_labels == ["AI-generation claim (Content Credentials)"]
    assert item.audit_entries.get().after == {"status": "open", "reasons": ["ai_claim"]}


@pytest.mark.parametrize("name", ["unknown-signer.jpg", "edited-after-signing.jpg", "xmp-labelled.jpg"])
def test_claims_that_are_not_valid_do_not_flag(owner, trusted, name):
    job = job_with_file(owner, trusted[name], score=0.1)
    read(job)
    assert moderation_services.flag_if_needed(job_id=job.pk) is None


def queue_jobs(client, **query) -> list[int]:
    """The job ids on the moderators' queue page for these query parameters, in the page's order."""
    page = client.get(reverse("moderation:queue"), query)
    assert page.status_code == 200
    return [item.job_id for item in page.context["page"]]


def test_the_queue_filters_by_provenance_and_the_review_page_shows_the_manifest(owner, trusted, client):
    ai = job_with_file(owner, trusted["ai-signed.jpg"], score=0.95)
    labelled = job_with_file(owner, trusted["xmp-labelled.jpg"], score=0.95)
    bad = job_with_file(owner, trusted["edited-after-signing.jpg"], score=0.95)
    for job in (ai, labelled, bad):
        read(job)
        moderation_services.flag_if_needed(job_id=job.pk)
    client.force_login(make_user("mod", role="moderator"))

    def listed(**query):
        return set(queue_jobs(client, **query))

    assert listed() == {ai.pk, labelled.pk, bad.pk}
    assert listed(provenance="ai_claim") == listed(reason="ai_claim") == {ai.pk}
    assert listed(provenance="ai_label") == {labelled.pk}
    assert listed(provenance="problem") == {bad.pk}
    assert listed(provenance="none") == {labelled.pk}
    review = client.get(reverse("moderation:review", args=[ModerationItem.objects.get(job=ai).pk])).content.decode()
    assert f"Content Credentials: valid, signed by {pm.AI_SIGNER}" in review
    assert 'id="provenance-manifest"' in review and "trainedAlgorithmicMedia" in review


def test_the_owner_sees_the_panel_and_no_raw_manifest(owner, trusted, owner_client):
    job = job_with_file(owner, trusted["unknown-signer.jpg"])
    read(job)
    page = owner_client.get(reverse("detection:result", args=[job.media.pk])).content.decode()
    assert 'data-status="untrusted"' in page and pm.UNKNOWN_SIGNER in page
    assert 'id="provenance-manifest"' not in page


def test_a_typical_clips_pdf_stays_two_pages_with_its_provenance(owner, owner_client, tmp_path):
    from tests.detection.test_results import CARD, _pages, _pdf, _text, make_analysis

    media = make_analysis(owner, score=0.93, name="interview.mp4", frames=32, heatmaps=8, duration=9.0,
                          model_card=CARD)
    Provenance.objects.create(media=media, c2pa_status="none", labels=[
        {"source": "container tag", "field": "encoder", "value": "Lavf60", "meaning": "", "ai": False}])
    path = _pdf(owner_client, media, tmp_path)
    assert _pages(path) <= 2
    text = _text(path, 1)
    assert "Content Credentials: none found." in text and "a missing manifest or label proves nothing" in text
    assert text.index("Likely fake") < text.index("Provenance") < text.index("SHA-256")  # beside the verdict


# --- a failed job with a valid AI-generation claim (no face: nothing for the detector to score) --------


def run_faceless(owner, data: bytes):
    """Run the job's own code with the real detector on the suite's noise picture (no face in it), without the
    whole-picture probe (issue 32), so that nothing judges it and the job fails "no face"."""
    job = job_with_file(owner, data, status="queued", score=None)
    with override_settings(WHOLE_IMAGE_PROBE="/nonexistent/whole_image_probe.npz"):
        jobs.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == "no_face", (job.status, job.error_code)
    return job


def test_a_failed_job_with_a_valid_ai_claim_is_flagged_with_that_reason_only(owner, trusted):
    job = run_faceless(owner, trusted["ai-signed.jpg"])
    assert job.score is None and Provenance.objects.get(media=job.media).ai_claim
    item = ModerationItem.objects.get(job=job)
    assert item.reasons == ["ai_claim"] and item.status == "open"
    assert item.audit_entries.get().after == {"status": "open", "reasons": ["ai_claim"]}


def test_a_failed_job_without_a_valid_claim_is_not_flagged(owner, trusted):
    for name in ("xmp-labelled.jpg", "unknown-signer.jpg"):  # an unsigned label, an untrusted signer
        job = run_faceless(owner, trusted[name])
        assert Provenance.objects.get(media=job.media).c2pa_status in ("none", "untrusted")
        assert not ModerationItem.objects.filter(job=job).exists(), name


def test_any_failure_with_a_valid_ai_claim_is_flagged_and_a_flagging_error_leaves_the_job(owner, trusted,
                                                                                          monkeypatch):
    job = job_with_file(owner, trusted["ai-signed.jpg"], status="running", score=None)
    read(job)
    jobs.job_fail(job_id=job.pk, code="internal_error", message="Something went wrong.")
    assert ModerationItem.objects.get(job=job).reasons == ["ai_claim"]

    def broken(**kwargs):
        raise RuntimeError("moderation is down")

    monkeypatch.setattr(moderation_services, "flag_if_needed", broken)
    other = job_with_file(owner, trusted["ai-signed.jpg"], status="running", score=None)
    read(other)
    jobs.job_fail(job_id=other.pk, code="internal_error", message="Something went wrong.")
    other.refresh_from_db()
    assert other.status == "failed" and other.error_code == "internal_error"
    assert not ModerationItem.objects.filter(job=other).exists()


def test_the_queue_and_the_review_page_show_a_failed_jobs_item_without_a_verdict(owner, trusted, client):
    failed = run_faceless(owner, trusted["ai-signed.jpg"])
    scored = job_with_file(owner, trusted["ai-signed.jpg"], score=0.95)
    read(scored)
    moderation_services.flag_if_needed(job_id=scored.pk)
    client.force_login(make_user("mod", role="moderator"))

    def listed(**query):
        return queue_jobs(client, **query)

    assert set(listed()) == set(listed(reason="ai_claim")) == set(listed(provenance="ai_claim")) == {failed.pk, scored.pk}
    assert listed(sort="-score") == listed(sort="score") == [scored.pk, failed.pk]  # no score: last either way
    assert listed(verdict="fake") == [scored.pk]
    assert listed(verdict="inconclusive") == [failed.pk]  # what the uploader was shown for no face
    row = client.get(reverse("moderation:queue"), {"reason": "ai_claim"}).content.decode()
    assert f"no verdict: {escape(failed.error_message)}" in row
    item = ModerationItem.objects.get(job=failed)
    review = client.get(reverse("moderation:review", args=[item.pk]))
    assert review.status_code == 200
    html = review.content.decode()
    # One vocabulary (issue 32): a faceless file reads "Inconclusive" with its reason on the review page too.
    assert "Inconclusive" in html and "No face was found" in html
    assert "AI-generation claim (Content Credentials)" in html
    assert f"Content Credentials: valid, signed by {pm.AI_SIGNER}" in html and 'id="provenance-manifest"' in html
    assert client.get(reverse("moderation:media_file", args=[failed.media.pk])).status_code == 200
