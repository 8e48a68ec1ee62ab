"""Issue 31 in the portal: the tamper signal's verdict, its moderation reason, and the API's coarser scores."""
import pytest

from detection import verdicts
from detection.models import DetectionJob
from moderation import services
from moderation.models import ModerationItem
from tests.api_support import api_token, fresh_throttle_counts, owner_api, private_files_removed  # noqa: F401
from tests.moderation_support import make_job


def test_a_fired_tamper_check_makes_an_authentic_reading_inconclusive_never_a_fake_one():
    decide = lambda score, altered: verdicts.decide(score=score, threshold=0.5, band=0.1, altered=altered)  # noqa: E731
    assert decide(0.05, True) == verdicts.Verdict(verdicts.INCONCLUSIVE, verdicts.MAY_BE_ALTERED)
    assert decide(0.55, True).reason == verdicts.MAY_BE_ALTERED  # near the threshold too
    assert decide(0.05, False).key == verdicts.AUTHENTIC
    assert decide(0.95, True).key == verdicts.FAKE  # a caught fake stays caught
    words = decide(0.05, True).explanation
    assert "may have been altered to evade detection" in words


@pytest.mark.django_db
def test_a_job_the_tamper_check_made_inconclusive_is_flagged_with_its_own_reason(owner):
    job = make_job(owner, score=0.08, verdict=verdicts.INCONCLUSIVE)
    DetectionJob.objects.filter(pk=job.pk).update(verdict_reason=verdicts.MAY_BE_ALTERED)
    item = services.flag_if_needed(job_id=job.pk)
    assert item is not None and item.may_be_altered and item.inconclusive
    assert item.reason_labels == ["Inconclusive", "May have been altered to evade detection"]
    plain = make_job(owner, score=0.08)  # likely authentic, nothing fired: no review
    assert services.flag_if_needed(job_id=plain.pk) is None
    assert not ModerationItem.objects.filter(job=plain).exists()


@pytest.mark.django_db
def test_the_api_rounds_scores_to_two_decimals(owner, owner_api, settings):
    job = make_job(owner, score=0.123456, frames=2)
    body = owner_api.get(f"/api/v1/analyses/{job.media_id}/").json()
    assert body["score"] == 0.12 and body["confidence"] == 0.88
    assert all(frame["score"] == 0.12 for frame in body["frames"])
    settings.API_SCORE_DECIMALS = 1
    assert owner_api.get(f"/api/v1/analyses/{job.media_id}/").json()["score"] == 0.1
