"""Reads for pages. Every query is scoped to its owner: nobody reads another user's media."""
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Page, Paginator
from django.db.models import Case, F, IntegerField, OuterRef, QuerySet, Subquery, Value, When

from . import evidence, verdicts
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
    "whole_image": "Reading the whole picture",  # issue 32: images without a face
    "voice": "Listening to the voice",
    "spectrogram": "Drawing the spectrogram",
    "sync": "Checking lips against speech",
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


def stage_label(stage: str) -> str:
    return STAGE_LABELS.get(stage, stage.replace("_", " ").capitalize())


def job_outcome(job: DetectionJob) -> dict:
    """A job's outcome as every JSON shows it (status poll, webhooks, API): the verdict in words, the score
    and the model that gave it, or the error; "" on the row reads as None."""
    return {
        "status": job.status,
        **verdicts.as_dict(job_verdict(job), job.score),
        "score": job.score,
        "threshold": job.threshold,
        "model_version": job.model_version or None,
        "error_code": job.error_code or None,
        "error_message": job.error_message or None,
    }


def job_status(job: DetectionJob) -> dict:
    """The small JSON the result page polls."""
    return {"status": job.status, "stage": job.stage, "stage_label": stage_label(job.stage),
            "progress": job.progress, "final": job.is_final, **job_outcome(job)}


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


VOICE_READINGS = {verdicts.FAKE: "Sounds synthetic", verdicts.AUTHENTIC: "Sounds like a real voice",
                  verdicts.INCONCLUSIVE: "Too close to call"}
SYNC_READINGS = {verdicts.FAKE: "Lips and speech do not match", verdicts.AUTHENTIC: "Lips and speech match",
                 verdicts.INCONCLUSIVE: "Too close to call"}


def _reading(row, words: dict) -> str | None:
    """The evidence read on its own (threshold and inconclusive band), in words; None when not read."""
    read = evidence.read("", row, band=settings.RESULT_INCONCLUSIVE_BAND)
    return words[read.verdict.key] if read else None


def voice_row(job: DetectionJob):
    return _evidence_row(job, "voice")


def _evidence_row(job: DetectionJob, name: str):
    try:
        return getattr(job, name)
    except ObjectDoesNotExist:
        return None


def voice_data(job: DetectionJob, *, image_url: str | None = None) -> dict | None:
    """The voice evidence of a job as JSON (page, report, API); None when the sound was never analysed."""
    voice = _evidence_row(job, "voice")
    if voice is None:
        return None
    synthetic = None
    if voice.status == "ok" and voice.score is not None and voice.threshold is not None:
        synthetic = voice.score >= voice.threshold
    return {
        "reading": _reading(voice, VOICE_READINGS),
        **evidence.row_fields(voice),
        "synthetic": synthetic,
        "model_version": voice.model_version or None,
        "duration_seconds": voice.duration,
        "speech_seconds": voice.speech_seconds,
        "speech_share": voice.speech_share,
        "seconds": voice.seconds or [],
        "spectrogram_url": image_url if voice.image else None,
        "spectrogram_seconds": voice.image_seconds or None,
    }


def sync_data(job: DetectionJob) -> dict | None:
    """The lip-sync evidence of a job as JSON; None when it was never checked."""
    sync = _evidence_row(job, "sync")
    if sync is None:
        return None
    out_of_sync = None
    if sync.status == "ok" and sync.score is not None and sync.threshold is not None:
        out_of_sync = sync.score >= sync.threshold
    return {
        "reading": _reading(sync, SYNC_READINGS),
        **evidence.row_fields(sync),
        "out_of_sync": out_of_sync,
        "offset_seconds": sync.offset,
        "method_version": sync.method_version or None,
        "segments": sync.segments or [],
    }


def verdict_driver_data(job: DetectionJob) -> dict:
    """Which evidence drove the verdict, as a key and in words, with the rule that combined them."""
    verdict = job_verdict(job)
    driver = job.verdict_driver or None
    return {"driver": driver, "words": evidence.driver_words(verdict, driver) or None,
            "explanation": evidence.explanation(verdict) or None, "rule": evidence.RULE_WORDS}
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
