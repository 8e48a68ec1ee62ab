"""Reads for pages. Every query is scoped to its owner: nobody reads another user's media."""
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.paginator import Page, Paginator
from django.db.models import Case, F, IntegerField, OuterRef, QuerySet, Subquery, Value, When

from . import verdicts
from .models import DetectionJob, FrameResult, Media

# History sort keys (the ?sort= parameter) and their orderings; "-" first means newest/highest first.
HISTORY_SORTS = {
    "-date": [F("created").desc(), F("id").desc()],
    "date": [F("created").asc(), F("id").asc()],
    "-score": [F("job__score").desc(nulls_last=True), F("id").desc()],
    "score": [F("job__score").asc(nulls_last=True), F("id").desc()],
    # Verdict: likely fake first, then inconclusive, likely authentic, and unfinished or failed last.
    "verdict": [F("verdict_rank").asc(), F("job__score").desc(nulls_last=True), F("id").desc()],
    "-verdict": [F("verdict_rank").desc(), F("job__score").asc(nulls_last=True), F("id").desc()],
}
HISTORY_SORT_LABELS = [
    ("-date", "Newest"), ("date", "Oldest"), ("-score", "Highest score"), ("score", "Lowest score"),
    ("verdict", "Verdict (likely fake first)"),
]
DEFAULT_HISTORY_SORT = "-date"
_VERDICT_RANK = Case(
    When(job__verdict=verdicts.FAKE, then=Value(0)),
    When(job__verdict=verdicts.INCONCLUSIVE, then=Value(1)),
    When(job__verdict=verdicts.AUTHENTIC, then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)

STAGE_LABELS = {
    "queued": "Waiting in the queue",
    "starting": "Loading the detector",
    "reading_frames": "Reading frames",
    "finding_faces": "Finding faces",
    "scoring": "Scoring",
    "heatmaps": "Drawing heatmaps",
    "done": "Done",
    "failed": "Failed",
}


def media_list_for_user(user: AbstractBaseUser) -> QuerySet[Media]:
    return Media.objects.filter(owner=user).select_related("job")


def _with_outcome(media: QuerySet[Media]) -> QuerySet[Media]:
    """With each job's moderation item (by name: this app never imports moderation), for its badge."""
    return media.select_related("job__moderation")


def media_count_for_user(user: AbstractBaseUser) -> int:
    return Media.objects.filter(owner=user).count()


def history_page_for_user(user: AbstractBaseUser, *, sort: str = DEFAULT_HISTORY_SORT,
                          page: int | str | None = 1, per_page: int | None = None) -> tuple[Page, str]:
    """One page of the user's uploads, each with its job and the id of a frame thumbnail to show.

    An unknown sort falls back to newest first; a page past the end gives the last page.
    """
    sort = sort if sort in HISTORY_SORTS else DEFAULT_HISTORY_SORT
    thumbnail = (
        FrameResult.objects.filter(job__media=OuterRef("pk")).exclude(thumbnail="").order_by("-score", "id")
    )
    media = (
        _with_outcome(media_list_for_user(user))
        .annotate(thumbnail_frame_id=Subquery(thumbnail.values("pk")[:1]), verdict_rank=_VERDICT_RANK)
        .order_by(*HISTORY_SORTS[sort])
    )
    paginator = Paginator(media, per_page or settings.HISTORY_PAGE_SIZE)
    return paginator.get_page(page), sort


def frame_list_for_user(user: AbstractBaseUser) -> QuerySet[FrameResult]:
    return FrameResult.objects.filter(job__media__owner=user)


def job_status(job: DetectionJob) -> dict:
    """The small JSON the result page polls."""
    return {
        "status": job.status,
        "stage": job.stage,
        "stage_label": STAGE_LABELS.get(job.stage, job.stage.replace("_", " ").capitalize()),
        "progress": job.progress,
        "final": job.is_final,
        **verdicts.as_dict(job_verdict(job), job.score),
        "score": job.score,
        "threshold": job.threshold,
        "model_version": job.model_version or None,
        "error_code": job.error_code or None,
        "error_message": job.error_message or None,
    }


def job_verdict(job: DetectionJob) -> verdicts.Verdict | None:
    """The stored verdict of a finished job (none while it runs, or when it failed for another reason)."""
    return verdicts.stored(job.verdict, job.verdict_reason)


def job_confidence(job: DetectionJob) -> float | None:
    verdict = job_verdict(job)
    return verdicts.confidence(score=job.score, verdict=verdict) if verdict else None


def timeline_points(frames: list[FrameResult]) -> list[dict]:
    """The per-frame scores the result page draws, as JSON-friendly dicts."""
    return [
        {"id": f.pk, "index": f.index, "time": round(f.time, 3), "score": round(f.score, 4), "track": f.track,
         "box": [f.x0, f.y0, f.x1, f.y1], "heatmap": bool(f.heatmap)}
        for f in frames
    ]


CLIP_PART_NAMES = (("frame_mean", "Frame mean"), ("topk_mean", "Top-k mean"), ("temporal", "Temporal"))


def clip_parts_rows(job: DetectionJob) -> list[dict]:
    """The parts of a clip score for pages and the PDF: [{key, name, value (or None)}], plus the frames
    above the threshold; empty for images and jobs without parts."""
    parts = job.clip_parts if isinstance(job.clip_parts, dict) else None
    if not parts:
        return []
    rows = [{"key": key, "name": name, "value": parts.get(key)} for key, name in CLIP_PART_NAMES]
    if isinstance(parts.get("frames"), int):
        rows.append({"key": "frames_above", "name": "Frames above threshold",
                     "value": f"{parts.get('frames_above', 0)} of {parts['frames']}"})
    return rows
