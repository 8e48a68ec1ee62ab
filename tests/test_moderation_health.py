"""The model health page's numbers on known data: jobs per day, processing percentiles, failures by code,
detector-moderator agreement, and score drift against the model card or the weeks before."""
import math
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from moderation import selectors, services, stats

from .moderation_helpers import make_job, make_user


@pytest.fixture(autouse=True)
def own_private_root(settings, tmp_path):
    """Files of this module's jobs go to a folder of each test's own (others check the shared root is empty)."""
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"

# --- plain statistics -------------------------------------------------------------------------


def test_percentile_interpolates_between_ranks():
    assert stats.percentile([], 50) is None
    assert stats.percentile([7.0], 95) == 7.0
    assert stats.percentile([4, 1, 3, 2], 50) == 2.5
    assert stats.percentile([10, 20, 30, 40, 50], 95) == pytest.approx(48.0)


def test_psi_on_known_histograms():
    assert stats.psi([50, 50], [50, 50]) == 0.0
    expected = 0.4 * math.log(0.9 / 0.5) + (-0.4) * math.log(0.1 / 0.5)
    assert stats.psi([50, 50], [90, 10]) == pytest.approx(expected)
    assert stats.psi([0, 0], [1, 1]) is None


def test_ks_statistic_on_known_samples():
    assert stats.ks_statistic([0.1, 0.2, 0.3], [0.1, 0.2, 0.3]) == 0.0
    assert stats.ks_statistic([0.1, 0.2, 0.3], [0.6, 0.7]) == 1.0
    assert stats.ks_statistic([1, 2, 3, 4], [3, 4, 5, 6]) == 0.5
    assert stats.ks_statistic([], [1]) is None


def test_histogram_uses_ten_bins_over_zero_to_one():
    assert stats.histogram([0.0, 0.05, 0.15, 0.999, 1.0]) == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]


def test_the_card_may_give_validation_scores_as_a_list_or_a_histogram():
    hist, scores, source = stats.reference_from_card({"validation_scores": [0.1, 0.9]})
    assert hist == [0, 1, 0, 0, 0, 0, 0, 0, 0, 1] and scores == [0.1, 0.9] and "list" in source
    hist, scores, _ = stats.reference_from_card({"validation_scores": {"bins": [0, 0.5, 1], "counts": [3, 5]}})
    assert hist == [0, 0, 3, 0, 0, 0, 0, 5, 0, 0] and scores is None
    assert stats.reference_from_card({"version": "x"})[0] is None
    assert stats.reference_from_card(None)[0] is None


# --- the page on known data -------------------------------------------------------------------


@pytest.fixture
def known_data(db, settings, monkeypatch):
    settings.MODERATION_SCORE_THRESHOLD = 0.9
    settings.MODERATION_INCONCLUSIVE_BAND = 0.1
    owner = make_user("alice")
    moderator = make_user("mod", role="moderator")
    now = timezone.now()
    today, yesterday = now - timedelta(minutes=30), now - timedelta(days=1, minutes=30)
    # Five done jobs today taking 10..50 s, with scores 0.95, 0.92, 0.45, 0.1, 0.2.
    done = [make_job(owner, score=s, seconds=t, queued_at=today)
            for s, t in [(0.95, 10), (0.92, 20), (0.45, 30), (0.1, 40), (0.2, 50)]]
    # Three failures yesterday: two without a face, one timeout.
    for code in ("no_face", "no_face", "timeout"):
        make_job(owner, status="failed", error_code=code, queued_at=yesterday)
    # Reviews: detector fake/moderator fake, detector fake/moderator real, detector real/moderator fake.
    for job, action in [(done[0], "confirm_fake"), (done[1], "mark_authentic"), (done[2], "confirm_fake")]:
        item = services.flag_if_needed(job_id=job.pk)
        services.item_review(item_id=item.pk, actor=moderator, action=action)
    # Earlier weeks (outside the 14-day window): low scores only.
    for s in (0.05, 0.1, 0.15, 0.12):
        make_job(owner, score=s, queued_at=now - timedelta(days=20))
    monkeypatch.setattr(selectors, "model_card", lambda: {"version": "v1"})  # a card without validation scores
    return {"owner": owner, "moderator": moderator, "now": now}


def test_health_numbers_on_known_data(known_data):
    health = selectors.model_health(now=known_data["now"])
    per_day = {row["day"]: row["count"] for row in health["per_day"]}
    today = timezone.localtime(known_data["now"] - timedelta(minutes=30)).date()
    yesterday = timezone.localtime(known_data["now"] - timedelta(days=1, minutes=30)).date()
    assert per_day[today] == 5 and per_day[yesterday] == 3 and sum(per_day.values()) == 8
    assert len(per_day) == 14
    assert health["median_seconds"] == pytest.approx(30.0)
    assert health["p95_seconds"] == pytest.approx(48.0)
    assert health["final"] == 8
    assert health["failure_rate"] == pytest.approx(3 / 8)
    assert health["failures"] == [{"code": "no_face", "count": 2, "rate": 0.25},
                                  {"code": "timeout", "count": 1, "rate": 0.125}]
    agreement = health["agreement"]
    assert (agreement["total"], agreement["agreed"]) == (3, 1)
    assert agreement["rate"] == pytest.approx(1 / 3)
    assert agreement["table"] == {"fake->fake": 1, "fake->real": 1, "real->fake": 1}


def test_drift_against_previous_weeks_when_the_card_has_no_validation_scores(known_data):
    drift = selectors.score_drift(now=known_data["now"])
    assert not drift["card_has_validation_scores"]
    assert drift["current_count"] == 5 and drift["reference_count"] == 4
    assert drift["current_hist"] == [0, 1, 1, 0, 1, 0, 0, 0, 0, 2]
    assert drift["reference_hist"] == [1, 3, 0, 0, 0, 0, 0, 0, 0, 0]
    assert drift["psi"] == pytest.approx(stats.psi(drift["reference_hist"], drift["current_hist"]))
    assert drift["ks"] == pytest.approx(0.8)  # at 0.15: all four earlier scores, 1 of 5 this week
    assert drift["warning"]


def test_drift_against_the_model_cards_validation_scores(known_data, monkeypatch):
    validation = [0.95, 0.92, 0.45, 0.1, 0.2]  # the same distribution as this week: no drift
    monkeypatch.setattr(selectors, "model_card", lambda: {"version": "v1", "validation_scores": validation})
    drift = selectors.score_drift(now=known_data["now"])
    assert drift["card_has_validation_scores"] and drift["reference_count"] == 5
    assert drift["psi"] == pytest.approx(0.0) and drift["ks"] == 0.0
    assert not drift["warning"]


def test_the_health_page_shows_the_numbers_and_the_warning(known_data, settings):
    client = Client()
    client.force_login(known_data["moderator"])
    page = client.get(reverse("moderation:health"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="drift-warning"' in html and 'id="no-validation-scores"' in html
    assert "median processing 30.0 s" in html and "95th percentile 48.0 s" in html
    assert "no_face" in html and "Agreement: <strong>33%</strong>" in html
    settings.MODERATION_DRIFT_PSI_WARNING = 100.0
    assert 'id="drift-warning"' not in client.get(reverse("moderation:health")).content.decode()
