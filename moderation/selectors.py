"""Reads for moderation pages. Callers have already checked the ``detection.review_media`` permission."""
from __future__ import annotations

import logging
import os
from datetime import timedelta

from django.conf import settings
from django.db.models import F, QuerySet
from django.utils import timezone

from detection import verdicts
from detection.models import DetectionJob, EvidenceStatus, FrameResult, Media, VoiceEvidence
from provenance import selectors as provenance_selectors

from . import stats
from .models import REASON_FIELDS, AuditEntry, ModerationItem

logger = logging.getLogger(__name__)

SORTS = {
    "date": ("flagged_at", "id"),
    "-date": ("-flagged_at", "-id"),
    # Items of failed jobs (flagged for an AI-generation claim) have no score: last either way.
    "score": (F("job__score").asc(nulls_last=True), "id"),
    "-score": (F("job__score").desc(nulls_last=True), "-id"),
}


def item_queue(*, status: str = "", verdict: str = "", model_version: str = "", reason: str = "",
               sort: str = "-date", provenance: str = "") -> QuerySet[ModerationItem]:
    items = ModerationItem.objects.select_related("job", "job__media", "job__media__owner", "reviewed_by")
    if status in ModerationItem.Status.values:
        items = items.filter(status=status)
    elif status == "pending":
        items = items.exclude(status__in=ModerationItem.REVIEWED)
    verdict = {"real": verdicts.AUTHENTIC}.get(verdict, verdict)  # "real": links from before issue 32
    if verdict in verdicts.KEYS:  # the verdict the uploader saw (detection.verdicts)
        items = items.filter(job__verdict=verdict)
    if model_version:
        items = items.filter(job__model_version=model_version)
    if reason in REASON_FIELDS:
        items = items.filter(**{REASON_FIELDS[reason]: True})
    if provenance:  # issue 22: what the file's Content Credentials or labels say
        items = items.filter(provenance_selectors.queue_filter(provenance, prefix="job__media__"))
    return items.order_by(*SORTS.get(sort, SORTS["-date"]))


def model_versions() -> list[str]:
    return list(
        ModerationItem.objects.exclude(job__model_version="").order_by("job__model_version")
        .values_list("job__model_version", flat=True).distinct()
    )


def item_get(pk: int) -> ModerationItem:
    return ModerationItem.objects.select_related("job", "job__media", "job__media__owner", "reviewed_by").get(pk=pk)


def item_audit_entries(item: ModerationItem) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(item=item).order_by("created", "id")


def flagged_media() -> QuerySet[Media]:
    """Media a moderator may open: those whose job is flagged. Everything else stays owner-only."""
    return Media.objects.filter(job__moderation__isnull=False)


def flagged_frames() -> QuerySet[FrameResult]:
    return FrameResult.objects.filter(job__moderation__isnull=False)


def reviewed_items() -> QuerySet[ModerationItem]:
    return ModerationItem.objects.filter(status__in=ModerationItem.REVIEWED).select_related("job", "job__media")


# --- model health -------------------------------------------------------------------------------

_card_cache: dict[str, tuple[float, dict | None]] = {}


def model_card() -> dict | None:
    """The deployed detector's model card, cached per file change (read from the ONNX export's
    metadata when it matches the checkpoint, so the web process need not load torch)."""
    path = str(settings.DETECTOR_CHECKPOINT)
    try:
        mtime = os.path.getmtime(path)
    except OSError:
        return None
    cached = _card_cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        from ml.inference.backends import read_card

        card = read_card(path)
    except Exception:  # torch missing in this process, a bad file: the page says there is no card
        logger.warning("could not read the model card from %s", path, exc_info=True)
        card = None
    _card_cache[path] = (mtime, card)
    return card


def model_health(*, days: int = 14, min_days_shown: int = 7, now=None) -> dict:
    """Jobs per day, processing times, failures by code, agreement and score drift, for the health page.

    ``per_day`` runs from the first day with a job in the last ``days`` (or ``min_days_shown`` days ago,
    whichever is earlier) to today, each day with its jobs (done, failed) and processing times; it is empty
    when there was no job at all.
    """
    now = now or timezone.now()
    since = now - timedelta(days=days)
    rows = list(
        DetectionJob.objects.filter(queued_at__gte=since)
        .values_list("queued_at", "started_at", "finished_at", "status", "error_code")
    )
    today = timezone.localtime(now).date()
    window = {today - timedelta(days=k): {"count": 0, "done": 0, "failed": 0, "durations": []}
              for k in range(days - 1, -1, -1)}
    durations = []
    for queued_at, started_at, finished_at, status, _ in rows:
        day = window.get(timezone.localtime(queued_at).date())
        if day is not None:
            day["count"] += 1
            day["done"] += status == DetectionJob.Status.DONE
            day["failed"] += status == DetectionJob.Status.FAILED
        if status == DetectionJob.Status.DONE and started_at and finished_at:
            seconds = (finished_at - started_at).total_seconds()
            durations.append(seconds)
            if day is not None:
                day["durations"].append(seconds)
    busy = [day for day, row in window.items() if row["count"]]
    first = min(busy[0], today - timedelta(days=min_days_shown - 1)) if busy else today + timedelta(days=1)
    per_day = [
        {"day": day, "count": row["count"], "done": row["done"], "failed": row["failed"],
         "median_seconds": stats.percentile(row["durations"], 50),
         "p95_seconds": stats.percentile(row["durations"], 95)}
        for day, row in window.items() if day >= first
    ]
    final, failures = stats.failure_rates((status, code) for *_, status, code in rows)

    agreement = stats.agreement(
        (verdict, verdicts.OUTCOME_VERDICT[status])
        for verdict, status in ModerationItem.objects.filter(status__in=ModerationItem.REVIEWED)
        .exclude(job__verdict="").values_list("job__verdict", "status")
    )
    outcome_of = {v: status for status, v in verdicts.OUTCOME_VERDICT.items()}
    agreement["rows"] = []  # the table in the verdicts' words
    for key, n in agreement["table"].items():
        detector, moderator = key.split("->")
        agreement["rows"].append({"detector": verdicts.WORDS.get(detector, detector), "count": n,
                                  "detector_key": detector, "moderator": verdicts.outcome_words(outcome_of[moderator]),
                                  "agree": detector == moderator})
    return {
        "days": days,
        "per_day": per_day,
        "jobs": len(rows),
        "final": final,
        "median_seconds": stats.percentile(durations, 50),
        "p95_seconds": stats.percentile(durations, 95),
        "failures": failures,
        "failure_rate": sum(f["count"] for f in failures) / final if final else None,
        "agreement": agreement,
        "drift": score_drift(now=now),
        # Issue 29: the voice detector's clip scores, against the weeks before (its card ships no validation scores).
        "voice_drift": score_drift(now=now, scores=voice_scores, card=None),
    }


def _scores(start, end) -> list[float]:
    """The face detector's scores of jobs that ended in [start, end) (an audio upload's score is its voice's)."""
    return list(
        DetectionJob.objects.filter(status=DetectionJob.Status.DONE, score__isnull=False,
                                    finished_at__gte=start, finished_at__lt=end)
        .exclude(media__kind=Media.Kind.AUDIO)
        .values_list("score", flat=True)
    )


def voice_scores(start, end) -> list[float]:
    """The voice detector's clip scores of jobs that ended in [start, end) (audio uploads and video sound tracks)."""
    return list(
        VoiceEvidence.objects.filter(status=EvidenceStatus.OK, score__isnull=False, job__status=DetectionJob.Status.DONE,
                                     job__finished_at__gte=start, job__finished_at__lt=end)
        .values_list("score", flat=True)
    )


def score_drift(*, now=None, reference_weeks: int = 4, scores=_scores, card: dict | None | bool = False) -> dict:
    """This week's scores against the model card's validation scores, else against the weeks before.

    ``scores``: (start, end) -> scores, the face detector's by default (``voice_scores`` for the voice
    detector's); ``card``: the card offering validation scores (default: the face detector's)."""
    now = now or timezone.now()
    week_ago = now - timedelta(days=7)
    current = scores(week_ago, now)
    ref_hist, ref_scores, source = stats.reference_from_card(model_card() if card is False else card)
    card_source = source
    if ref_hist is None:
        ref_scores = scores(week_ago - timedelta(weeks=reference_weeks), week_ago)
        ref_hist = stats.histogram(ref_scores) if ref_scores else None
        source = f"the {reference_weeks} weeks before this one ({card_source})"
    cur_hist = stats.histogram(current)
    psi = stats.psi(ref_hist, cur_hist) if ref_hist else None
    ks = stats.ks_statistic(ref_scores, current) if ref_scores else None
    limit = settings.MODERATION_DRIFT_PSI_WARNING
    # PSI and KS on a handful of scores are noise: no warning until this week (and a reference made of
    # earlier weeks' scores) holds MODERATION_DRIFT_MIN_SCORES. A model card's reference is taken as it is.
    min_scores = settings.MODERATION_DRIFT_MIN_SCORES
    reference_count = sum(ref_hist) if ref_hist else 0
    enough = len(current) >= min_scores and (card_source.startswith("validation_scores")
                                             or reference_count >= min_scores)
    return {
        "current_count": len(current),
        "reference_count": reference_count,
        "min_scores": min_scores,
        "enough_scores": enough,
        "reference_source": source,
        "card_has_validation_scores": card_source.startswith("validation_scores"),
        "current_hist": cur_hist,
        "reference_hist": ref_hist,
        "psi": psi,
        "ks": ks,
        "threshold": limit,
        "warning": enough and psi is not None and psi > limit,
    }
