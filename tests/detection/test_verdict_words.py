"""One verdict, one vocabulary (issue 32): the words decided once in detection.verdicts read the same on the
result page, History, the moderation queue and review, the health page, the PDF, the JSON report and the API;
a moderator's outcome shows in History and on the result page; the parts of a clip score are shown."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from detection import jobs, verdicts
from detection.models import DetectionJob, Media
from ml.inference.result import AnalysedFrame, Prediction
from moderation import services

from tests.moderation_support import make_user
from tests.detection.test_results import _pdf, _text, make_analysis

pytestmark = pytest.mark.django_db

CLIP_PARTS = {"rule": "mean_topk", "frame_mean": 0.31, "topk_mean": 0.86, "temporal": None, "frames_above": 2,
              "frames": 9}


class _Verdicts(HTMLParser):
    """(key, words) of every element with a data-verdict attribute; aria-hidden icons left out."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, str]] = []
        self._open: list[list] = []  # [tag, key or None, text parts, hidden]

    def handle_starttag(self, tag, attrs):
        if tag in ("img", "input", "br", "meta", "link", "source"):
            return
        attrs = dict(attrs)
        self._open.append([tag, attrs.get("data-verdict"), [], attrs.get("aria-hidden") == "true"])

    def handle_endtag(self, tag):
        while self._open:
            open_tag, key, parts, _ = self._open.pop()
            if key is not None:
                self.found.append((key, " ".join("".join(parts).split())))
            if self._open and not self._open[-1][3]:
                self._open[-1][2].extend(parts)
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self._open and not any(element[3] for element in self._open):
            self._open[-1][2].append(data)


def shown(html: str) -> set[tuple[str, str]]:
    parser = _Verdicts()
    parser.feed(html)
    return set(parser.found)


def finished(owner, *, score: float, clip_parts: dict | None) -> Media:
    """An upload ended by the real finishing code (jobs._job_finish) from a detector's prediction."""
    media = make_analysis(owner, status=DetectionJob.Status.RUNNING, name="talk.mp4")
    DetectionJob.objects.filter(pk=media.job.pk).update(status=DetectionJob.Status.RUNNING)
    frames = [AnalysedFrame(index=i * 10, time=i * 0.5, box=(10, 10, 210, 230), score=s, heatmap="", thumbnail="")
              for i, s in enumerate((score, 0.3, 0.2))]
    prediction = Prediction(path="x", kind="video", status="ok", score=score, label=None, threshold=0.5,
                            model_version="test-v4", frames=frames, faces_found=1, clip_parts=clip_parts)
    jobs._job_finish(DetectionJob.objects.get(pk=media.job.pk), prediction, model_card={"version": "test-v4"})
    media.refresh_from_db()
    return media


@pytest.fixture
def moderator_client():
    client = Client()
    client.force_login(make_user("mod", role="moderator"))
    return client


def test_signals_disagree_when_frame_mean_and_clip_score_fall_on_opposite_sides():
    decide = dict(threshold=0.5, band=0.1)
    assert verdicts.decide(score=0.8, clip_parts={"frame_mean": 0.3}, **decide) == verdicts.Verdict(
        verdicts.INCONCLUSIVE, verdicts.SIGNALS_DISAGREE)
    assert verdicts.decide(score=0.2, clip_parts={"frame_mean": 0.7}, **decide).reason == verdicts.SIGNALS_DISAGREE
    assert verdicts.decide(score=0.8, clip_parts={"frame_mean": 0.6}, **decide).key == verdicts.FAKE
    assert verdicts.decide(score=0.8, clip_parts=None, **decide).key == verdicts.FAKE
    assert verdicts.decide(score=0.55, clip_parts={"frame_mean": 0.1}, **decide).reason == verdicts.NEAR_THRESHOLD
    assert verdicts.REASONS[verdicts.SIGNALS_DISAGREE] == "The frame evidence and the clip score disagree."


@pytest.mark.parametrize("score, clip_parts, key, reason", [
    (0.8, CLIP_PARTS, verdicts.INCONCLUSIVE, verdicts.SIGNALS_DISAGREE),
    (0.93, {**CLIP_PARTS, "frame_mean": 0.9}, verdicts.FAKE, ""),
    (0.05, None, verdicts.AUTHENTIC, ""),
])
def test_one_uploads_verdict_reads_the_same_everywhere(owner_client, owner, moderator_client, tmp_path, settings,
                                                       score, clip_parts, key, reason):
    settings.MODERATION_SCORE_THRESHOLD = 0.9
    media = finished(owner, score=score, clip_parts=clip_parts)
    job = media.job
    assert (job.verdict, job.verdict_reason, job.clip_parts) == (key, reason, clip_parts)
    words, why = verdicts.WORDS[key], verdicts.REASONS.get(reason)
    item = services.flag_if_needed(job_id=job.pk) or services.verdict_report(job=job, user=owner)
    expected = {(key, words)}

    result = owner_client.get(reverse("detection:result", args=[media.pk])).content.decode()
    assert shown(result) == expected and (why is None or why in result)
    assert shown(owner_client.get(reverse("detection:history")).content.decode()) == expected
    queue = moderator_client.get(reverse("moderation:queue"), {"status": "all"}).content.decode()
    assert shown(queue) == expected
    review = moderator_client.get(reverse("moderation:review", args=[item.pk])).content.decode()
    assert shown(review) == expected and (why is None or why in review)
    assert "real" not in review.split('id="detector-verdict"')[1].split("</p>")[0]

    pdf = _text(_pdf(owner_client, media, tmp_path))
    assert words in pdf and (why is None or why in pdf)
    assert not {w for w in verdicts.WORDS.values() if w != words} & {w for w in verdicts.WORDS.values() if w in pdf}
    report = owner_client.get(reverse("detection:report_json", args=[media.pk])).json()["analysis"]
    api = owner_client.get(f"/api/v1/analyses/{media.pk}/").json()
    status = owner_client.get(reverse("detection:status", args=[media.pk])).json()
    for data in (report, api, status):
        assert (data["verdict"], data["verdict_words"], data["reason"]) == (key, words, reason or None)
        assert data["confidence"] == verdicts.confidence(score=score, verdict=job.verdict_obj)
        assert "label" not in data
    if clip_parts:  # the parts of the clip score: on the page, in the PDF and the API
        assert api["clip_parts"] == clip_parts and report["clip_parts"] == clip_parts
        mean, topk = f"{clip_parts['frame_mean']:.3f}", f"{clip_parts['topk_mean']:.3f}"
        assert f'data-part="frame_mean">{mean}' in result and f'data-part="topk_mean">{topk}' in result
        assert f"frame mean {mean}, top-k mean {topk}" in pdf and "2 of 9 frames above the threshold" in pdf

    # A moderator marks it authentic: History and the result page show the outcome beside the verdict,
    # and the health page counts the verdict (not the raw side) against it.
    moderator_client.post(reverse("moderation:review", args=[item.pk]), {"action": "mark_authentic"})
    outcome = "Confirmed authentic by a moderator"
    history = owner_client.get(reverse("detection:history")).content.decode()
    assert outcome in history and 'data-outcome="authentic"' in history and shown(history) == expected
    assert outcome in owner_client.get(reverse("detection:result", args=[media.pk])).content.decode()
    health = moderator_client.get(reverse("moderation:health")).content.decode()
    assert shown(health) == expected and f"{outcome.lower()}: 1" in health


def test_a_faceless_photo_reads_inconclusive_everywhere(owner_client, owner):
    media = make_analysis(owner, status=DetectionJob.Status.RUNNING, kind="image", name="landscape.jpg")
    jobs.job_fail(job_id=media.job.pk, code="no_face", message="No face was found in this file.")
    expected = {(verdicts.INCONCLUSIVE, "Inconclusive")}
    assert shown(owner_client.get(reverse("detection:result", args=[media.pk])).content.decode()) == expected
    assert shown(owner_client.get(reverse("detection:history")).content.decode()) == expected
    status = owner_client.get(reverse("detection:status", args=[media.pk])).json()
    assert (status["verdict_words"], status["reason"]) == ("Inconclusive", verdicts.NO_FACE)
