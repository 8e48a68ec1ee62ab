"""The model health page's numbers on known data: jobs per day, processing percentiles, failures by code,
detector-moderator agreement, and score drift against the model card or the weeks before; and its charts
(inline SVG drawn on the server), whose geometry is checked against the same data."""
import math
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from moderation import charts, selectors, services, stats

from tests.moderation_support import make_job, make_user


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
    # Reviews: likely fake/confirmed fake, likely fake/confirmed authentic, inconclusive/confirmed fake.
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
    # Jobs only today and yesterday: the last seven days are shown, not fourteen rows of mostly zeros.
    assert list(per_day) == [today - timedelta(days=k) for k in range(6, -1, -1)]
    rows = {row["day"]: row for row in health["per_day"]}
    assert (rows[today]["done"], rows[today]["failed"]) == (5, 0)
    assert (rows[yesterday]["done"], rows[yesterday]["failed"]) == (0, 3)
    assert rows[today]["median_seconds"] == pytest.approx(30.0) and rows[today]["p95_seconds"] == pytest.approx(48.0)
    assert rows[yesterday]["median_seconds"] is None
    assert health["median_seconds"] == pytest.approx(30.0)
    assert health["p95_seconds"] == pytest.approx(48.0)
    assert health["final"] == 8
    assert health["failure_rate"] == pytest.approx(3 / 8)
    assert health["failures"] == [{"code": "no_face", "count": 2, "rate": 0.25},
                                  {"code": "timeout", "count": 1, "rate": 0.125}]
    agreement = health["agreement"]
    # Verdicts, not raw sides: the inconclusive one neither agrees nor disagrees.
    assert (agreement["total"], agreement["decided"], agreement["undecided"], agreement["agreed"]) == (3, 2, 1, 1)
    assert agreement["rate"] == pytest.approx(1 / 2)
    assert agreement["table"] == {"fake->authentic": 1, "fake->fake": 1, "inconclusive->fake": 1}
    assert {(r["detector"], r["moderator"]) for r in agreement["rows"]} == {
        ("Likely fake", "Confirmed authentic by a moderator"), ("Likely fake", "Confirmed fake by a moderator"),
        ("Inconclusive", "Confirmed fake by a moderator")}


def test_drift_against_previous_weeks_when_the_card_has_no_validation_scores(known_data, settings):
    settings.MODERATION_DRIFT_MIN_SCORES = 4  # this week has 5 scores, the four weeks before 4
    drift = selectors.score_drift(now=known_data["now"])
    assert not drift["card_has_validation_scores"]
    assert drift["current_count"] == 5 and drift["reference_count"] == 4
    assert drift["current_hist"] == [0, 1, 1, 0, 1, 0, 0, 0, 0, 2]
    assert drift["reference_hist"] == [1, 3, 0, 0, 0, 0, 0, 0, 0, 0]
    assert drift["psi"] == pytest.approx(stats.psi(drift["reference_hist"], drift["current_hist"]))
    assert drift["ks"] == pytest.approx(0.8)  # at 0.15: all four earlier scores, 1 of 5 this week
    assert drift["enough_scores"] and drift["warning"]
    settings.MODERATION_DRIFT_MIN_SCORES = 5  # enough this week, but a reference of earlier weeks needs as many
    drift = selectors.score_drift(now=known_data["now"])
    assert drift["psi"] > settings.MODERATION_DRIFT_PSI_WARNING and not drift["warning"]


def test_no_drift_warning_below_the_minimum_number_of_scores(known_data, settings, monkeypatch):
    """A card reference and a week of 5 very different scores: PSI is huge, yet 5 scores warn of nothing."""
    monkeypatch.setattr(selectors, "model_card", lambda: {"validation_scores": [0.01 * k for k in range(1, 40)]})
    assert settings.MODERATION_DRIFT_MIN_SCORES == 200  # the default
    drift = selectors.score_drift(now=known_data["now"])
    assert drift["psi"] > 1 and drift["current_count"] == 5
    assert not drift["enough_scores"] and not drift["warning"]
    settings.MODERATION_DRIFT_MIN_SCORES = 5  # a card's reference is taken as it is, whatever its size
    drift = selectors.score_drift(now=known_data["now"])
    assert drift["enough_scores"] and drift["warning"]


def test_drift_against_the_model_cards_validation_scores(known_data, monkeypatch):
    validation = [0.95, 0.92, 0.45, 0.1, 0.2]  # the same distribution as this week: no drift
    monkeypatch.setattr(selectors, "model_card", lambda: {"version": "v1", "validation_scores": validation})
    drift = selectors.score_drift(now=known_data["now"])
    assert drift["card_has_validation_scores"] and drift["reference_count"] == 5
    assert drift["psi"] == pytest.approx(0.0) and drift["ks"] == 0.0
    assert not drift["warning"]


def test_the_health_page_shows_the_numbers_and_the_warning(known_data, settings):
    settings.MODERATION_DRIFT_MIN_SCORES = 4
    client = Client()
    client.force_login(known_data["moderator"])
    page = client.get(reverse("moderation:health"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="drift-warning"' in html and 'id="no-validation-scores"' in html
    assert f'id="retrain-link" href="{reverse("admin:registry_retrainrun_add")}"' in html  # the loop, where the need shows
    assert 'id="no-shadow"' in html
    assert "median processing 30.0 s" in html and "95th percentile 48.0 s" in html
    assert "no_face" in html and "Agreement: <strong>50%</strong>" in html
    settings.MODERATION_DRIFT_PSI_WARNING = 100.0
    assert 'id="drift-warning"' not in client.get(reverse("moderation:health")).content.decode()


def test_the_page_says_how_many_scores_it_is_based_on_and_why_it_does_not_warn(known_data):
    client = Client()
    client.force_login(known_data["moderator"])
    html = client.get(reverse("moderation:health")).content.decode()
    assert "Based on <strong>5</strong> scores from this week" in html
    assert 'id="too-few-scores"' in html and "at least 200 this week" in html
    assert 'id="drift-warning"' not in html


def test_the_minimum_comes_from_the_environment():
    code = "from django.conf import settings; print(settings.MODERATION_DRIFT_MIN_SCORES)"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "deepfake_portal.settings", "SECRET_KEY": "x",
           "MODERATION_DRIFT_MIN_SCORES": "37"}
    out = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "37"


# --- the charts -------------------------------------------------------------------------------


def _svg(html: str, figure_id: str) -> str:
    match = re.search(rf'<figure class="chart" id="{figure_id}">\s*(<svg .*?</svg>)', html, re.S)
    assert match, f"no chart #{figure_id}"
    return match.group(1)


def _rects(svg: str, cls: str) -> list[dict]:
    return [{k: float(v) for k, v in re.findall(r'(x|y|width|height)="([\d.]+)"', tag)}
            for tag in re.findall(rf'<rect class="{cls}" [^>]*>', svg)]


def test_nice_ceiling_rounds_up_to_one_two_or_five():
    assert [charts.nice_ceiling(v) for v in (0, 0.3, 1, 3, 5, 7, 12, 48, 120)] == [1, 0.5, 1, 5, 5, 10, 20, 50, 200]


def test_the_page_draws_jobs_per_day_as_bars_to_scale(known_data):
    client = Client()
    client.force_login(known_data["moderator"])
    html = client.get(reverse("moderation:health")).content.decode()
    svg = _svg(html, "jobs-chart")
    assert 'role="img"' in svg and "<desc" in svg and "8 jobs in all" in svg
    assert svg.count('<g class="day">') == 7  # one slot per day shown
    done, failed = _rects(svg, "bar"), _rects(svg, "bar bar-failed")
    assert len(done) == 1 and len(failed) == 1  # today: 5 done; yesterday: 3 failed
    plot_height = charts.HEIGHT - charts.TOP - charts.BOTTOM
    assert done[0]["height"] == pytest.approx(plot_height, abs=0.1)  # 5 of a 5-job axis
    assert failed[0]["height"] == pytest.approx(plot_height * 3 / 5, abs=0.1)
    assert failed[0]["x"] < done[0]["x"]  # yesterday left of today
    assert done[0]["y"] + done[0]["height"] == pytest.approx(failed[0]["y"] + failed[0]["height"])  # one baseline
    # Charts are drawn on the server: the only script is the site-wide menu's (collapsing it on phones).
    scripts = [line for line in html.splitlines() if "<script" in line]
    assert scripts == ['  <script src="/static/js/portal.js"></script>'] and "cdn" not in html.lower()


def test_the_page_draws_processing_time_per_day(known_data):
    client = Client()
    client.force_login(known_data["moderator"])
    svg = _svg(client.get(reverse("moderation:health")).content.decode(), "times-chart")
    medians = re.findall(r'<circle class="dot-median" cx="([\d.]+)" cy="([\d.]+)"', svg)
    p95s = re.findall(r'<rect class="dot-p95" x="([\d.]+)" y="([\d.]+)"', svg)
    assert len(medians) == 1 and len(p95s) == 1  # only today has finished jobs
    y_max = charts.nice_ceiling(48.0)  # 50 s
    plot_height = charts.HEIGHT - charts.TOP - charts.BOTTOM
    y_median = float(medians[0][1])
    assert y_median == pytest.approx(charts.HEIGHT - charts.BOTTOM - plot_height * 30 / y_max, abs=0.1)
    assert float(p95s[0][1]) + 4 == pytest.approx(charts.HEIGHT - charts.BOTTOM - plot_height * 48 / y_max, abs=0.1)


def test_a_day_without_finished_jobs_breaks_the_time_lines():
    today = timezone.localdate()
    days = [{"day": today - timedelta(days=2), "median_seconds": 2.0, "p95_seconds": 4.0},
            {"day": today - timedelta(days=1), "median_seconds": None, "p95_seconds": None},
            {"day": today, "median_seconds": 3.0, "p95_seconds": 5.0}]
    chart = charts.processing_time_per_day(days)
    assert chart["median"]["path"].count("M") == 2 and "L" not in chart["median"]["path"]
    assert charts.processing_time_per_day(days[1:2]) is None


def test_the_score_histogram_is_drawn_over_the_cards_reference(known_data, monkeypatch):
    reference = {"bins": [k / 10 for k in range(11)], "counts": [0, 10, 0, 0, 30, 0, 0, 0, 0, 60]}
    monkeypatch.setattr(selectors, "model_card", lambda: {"version": "v1", "validation_scores": reference})
    client = Client()
    client.force_login(known_data["moderator"])
    html = client.get(reverse("moderation:health")).content.decode()
    svg = _svg(html, "score-chart")
    bars = _rects(svg, "bar")
    assert len(bars) == 4  # this week's scores 0.95, 0.92, 0.45, 0.1, 0.2 fill bins 1, 2, 4 and 9
    plot_height = charts.HEIGHT - charts.TOP - charts.BOTTOM
    y_max = charts.nice_ceiling(60)  # the tallest share: the reference's 60% (this week: 40% in bin 9)
    assert [b["height"] for b in bars] == pytest.approx([plot_height * share / y_max for share in (20, 20, 20, 40)],
                                                        abs=0.1)
    path = re.search(r'<path class="ref" d="([^"]+)"', svg).group(1)
    ys = [float(y) for y in re.findall(r"[ML][\d.]+,([\d.]+)", path)]
    assert len(ys) == 20  # a step (two points) per bin
    top = charts.HEIGHT - charts.BOTTOM
    assert ys[18] == pytest.approx(top - plot_height * 60 / y_max, abs=0.1)  # the last bin: 60%
    assert ys[0] == pytest.approx(top, abs=0.1)  # the first bin: 0%
    assert "reference (100 scores)" in html


def test_with_no_jobs_the_page_says_so_instead_of_a_table_of_zeros(db):
    moderator = make_user("mod", role="moderator")
    client = Client()
    client.force_login(moderator)
    health = selectors.model_health()
    assert health["per_day"] == [] and health["jobs"] == 0
    html = client.get(reverse("moderation:health")).content.decode()
    assert 'id="no-jobs"' in html and 'id="jobs-chart"' not in html and 'id="per-day"' not in html
    assert "Based on <strong>0</strong> scores" in html


def test_the_window_starts_at_the_first_day_with_jobs(db):
    owner = make_user("alice")
    now = timezone.now()
    make_job(owner, queued_at=now - timedelta(days=10))
    health = selectors.model_health(now=now)
    days = [row["day"] for row in health["per_day"]]
    assert days[0] == timezone.localtime(now - timedelta(days=10)).date() and len(days) == 11
    assert sum(row["count"] for row in health["per_day"]) == 1
