"""A job's life in a worker: claim it, beat its heartbeat, report progress, then finish or fail it."""
from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone

from . import detector, errors, evidence, previews, soundtrack, verdicts
from .models import DetectionJob, FrameResult, Media, SyncEvidence, VoiceEvidence
from .signals import job_ended, job_file_opened
from .storage import STORAGE_ERRORS, private_storage, remove_quietly

logger = logging.getLogger(__name__)

# Errors worth a retry: the database went away for a moment. Anything else is a recorded failure.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)
MAX_ATTEMPTS = 3  # claims per job, retries and redeliveries included
PROGRESS_MIN_INTERVAL = 1.0  # seconds between progress writes within one stage


class _ProgressReporter:
    """Writes stage and percent to the job row: on each stage change, else at most once a second."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.stage = None
        self.percent = 0
        self.written_at = 0.0

    def __call__(self, stage: str, percent: int) -> None:
        percent = max(self.percent, min(99, int(percent)))
        now = time.monotonic()
        if stage == self.stage and (percent == self.percent or now - self.written_at < PROGRESS_MIN_INTERVAL):
            return
        self.stage, self.percent, self.written_at = stage, percent, now
        try:
            DetectionJob.objects.filter(pk=self.job_id, status=DetectionJob.Status.RUNNING).update(
                stage=stage[:32], progress=percent
            )
        except TRANSIENT_ERRORS:
            logger.warning("job %s: progress not recorded", self.job_id, exc_info=True)


def claimable() -> Q:
    """Queued jobs, and running jobs whose worker must be gone (started longer ago than the hard limit)."""
    stale_before = timezone.now() - timedelta(seconds=settings.DETECTION_HARD_TIME_LIMIT + 60)
    return Q(status=DetectionJob.Status.QUEUED) | Q(status=DetectionJob.Status.RUNNING, started_at__lt=stale_before)


def process_identity() -> str:
    """host:pid of this process, kept on the job it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _claimer_is_dead(claimed_by: str) -> bool:
    """True only when the claim was made on this host by a process that no longer exists.

    A claim from another host is judged by the deadline in ``claimable`` instead.
    """
    host, _, pid = (claimed_by or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _heartbeat_stopped(heartbeat_at) -> bool:
    """The claimer's heartbeat (any host) is older than JOB_HEARTBEAT_TIMEOUT. No heartbeat: unknown."""
    if heartbeat_at is None:
        return False
    return heartbeat_at < timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)


def release_if_claimer_died(job_id: int, abandoned_claim: str = "") -> bool:
    """A running job whose worker was killed (kill -9, OOM) goes back to queued at once, so the
    redelivered message (or the sweeper) can claim it again without waiting for the deadline: a dead
    process on this host, or a claim on any host whose heartbeat stopped."""
    row = (DetectionJob.objects.filter(pk=job_id, status=DetectionJob.Status.RUNNING)
           .values("claimed_by", "heartbeat_at").first())
    # Also a claim that was abandoned: the database went away mid-job, so the job could not be released
    # for its retry; the retry names that claim (it may run in another worker), or runs in this process,
    # which runs one job at a time.
    claim = row["claimed_by"] if row else ""
    abandoned = bool(claim) and claim in (process_identity(), *abandoned_claim.split(","))
    if row is None or not (abandoned or _claimer_is_dead(claim) or _heartbeat_stopped(row["heartbeat_at"])):
        return False
    released = DetectionJob.objects.filter(
        pk=job_id, status=DetectionJob.Status.RUNNING, claimed_by=row["claimed_by"]
    ).update(status=DetectionJob.Status.QUEUED, stage="queued", progress=0)
    if released:
        logger.warning("job %s: its worker %s is gone; released for another claim", job_id, row["claimed_by"])
    return bool(released)


class _Heartbeat:
    """A daemon thread that stamps the job's heartbeat_at while this process holds its claim."""

    def __init__(self, job_id: int, claim: str):
        self.job_id, self.claim = job_id, claim
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join(timeout=2)

    def _run(self) -> None:
        from django.db import connection

        try:
            while not self.stopped.wait(settings.JOB_HEARTBEAT_SECONDS):
                try:
                    DetectionJob.objects.filter(
                        pk=self.job_id, status=DetectionJob.Status.RUNNING, claimed_by=self.claim
                    ).update(heartbeat_at=timezone.now())
                except TRANSIENT_ERRORS:
                    logger.warning("job %s: heartbeat not recorded", self.job_id)
                    connection.close()
        finally:
            connection.close()


def job_run(*, job_id: int, abandoned_claim: str = "", heartbeat: bool = False) -> None:
    """Claim a queued job, analyse its media and end it in done or failed. Safe to call twice.

    ``abandoned_claim``: on a retry after a database error, the claims (comma-separated host:pid) the
    failed tries may have left behind. ``heartbeat``: stamp the job every JOB_HEARTBEAT_SECONDS while it
    runs (workers do), so a claimer that dies on another host is noticed.
    """
    release_if_claimer_died(job_id, abandoned_claim)
    claimable_now = claimable()
    claim = process_identity()
    claimed = DetectionJob.objects.filter(claimable_now, pk=job_id, attempts__lt=MAX_ATTEMPTS).update(
        status=DetectionJob.Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=timezone.now(),
        heartbeat_at=timezone.now() if heartbeat else None,  # None: judged by pid and deadline only
        stage="starting",
        progress=0,
        claimed_by=claim,
    )
    if claimed != 1:
        # Out of attempts (e.g. its worker kept getting killed): end it rather than leave it hanging.
        if DetectionJob.objects.filter(claimable_now, pk=job_id, attempts__gte=MAX_ATTEMPTS).exists():
            job_fail(job_id=job_id, code=errors.INTERNAL_ERROR, message=errors.MESSAGES[errors.INTERNAL_ERROR])
        logger.info("job %s: not claimable (already running or final), skipping", job_id)
        return
    try:
        with _Heartbeat(job_id, claim) if heartbeat else contextlib.nullcontext():
            job = DetectionJob.objects.select_related("media").get(pk=job_id)
            if job.attempts > 1:
                _discard_leftovers(job_id)
            _analyse(job)
    except TRANSIENT_ERRORS:
        job_release(job_id=job_id)
        raise
    except SoftTimeLimitExceeded:
        logger.warning("job %s: soft time limit reached", job_id)
        job_fail(job_id=job_id, code=errors.TIMEOUT, message=errors.MESSAGES[errors.TIMEOUT])
    except (OSError, *STORAGE_ERRORS):  # reading or writing storage failed (disk full, bucket away): nothing kept
        logger.exception("job %s: storage write failed", job_id)
        job_fail(job_id=job_id, code=errors.STORAGE_ERROR, message=errors.MESSAGES[errors.STORAGE_ERROR])
    except Exception:
        logger.exception("job %s: unexpected error", job_id)
        job_fail(job_id=job_id, code=errors.INTERNAL_ERROR, message=errors.MESSAGES[errors.INTERNAL_ERROR])


def _discard_leftovers(job_id: int) -> None:
    """Files an earlier, interrupted attempt stored for this job (never committed: the job is not done)."""
    removed = private_storage.delete_prefix(f"jobs/{job_id}/")
    if removed:
        logger.info("job %s: removed %d files left by an earlier attempt", job_id, removed)


def _analyse(job: DetectionJob) -> None:
    audio_only = job.media.kind == Media.Kind.AUDIO
    try:
        predictor = None if audio_only else detector.get_predictor()
    except errors.ModelUnavailable as exc:
        logger.error("job %s: %s", job.pk, exc)
        job_fail(job_id=job.pk, code=errors.MODEL_UNAVAILABLE, message=errors.MESSAGES[errors.MODEL_UNAVAILABLE])
        return
    progress, limit = _ProgressReporter(job.pk), (SoftTimeLimitExceeded,)
    # Local storage: the file itself. Object storage: a temporary download, removed whatever happens.
    with tempfile.TemporaryDirectory(prefix=f"job-{job.pk}-") as heatmap_dir, \
            private_storage.local_copy(job.media.file.name, directory=heatmap_dir) as media_path:
        # Issue 22: Content Credentials and AI labels are read here (provenance listens), never failing the job.
        job_file_opened.send(sender=DetectionJob, media=job.media, path=media_path, passthrough=limit)
        if audio_only:  # issue 29: an audio upload is judged by the voice detector alone
            voice = soundtrack.voice_analyse(job=job, path=media_path, work_dir=heatmap_dir, progress=progress,
                                             passthrough=limit)
            prediction, card = soundtrack.audio_prediction(voice), soundtrack.voice_card(voice)
        else:
            prediction = predictor.predict(
                media_path,
                frames=settings.DETECTOR_FRAMES,
                heatmap_dir=heatmap_dir,
                max_heatmaps=settings.DETECTOR_MAX_HEATMAPS,
                progress=progress,
                passthrough=limit,
            )
            card = detector.model_card_summary(predictor)
            voice = _soundtrack(job, prediction, media_path, heatmap_dir, progress)
        # A video without a face but with speech is still judged, by its voice.
        judged_by_voice = prediction.status == "no_face" and voice is not None and voice.status == "ok"
        if prediction.status != "ok" and not judged_by_voice:
            code = prediction.error_code or prediction.status
            job_fail(job_id=job.pk, code=code, message=errors.message_for(code, prediction.error),
                     model_version=prediction.model_version, timings=prediction.timings)
            return
        playback, preview_path = previews.preview_prepare(media_path, kind=job.media.kind, fmt=job.media.format,
                                                          work_dir=heatmap_dir)
        _job_finish(job, prediction, model_card=card, playback=playback, preview_path=preview_path)


def _soundtrack(job: DetectionJob, prediction, media_path: str, work_dir: str, progress):
    """Issue 29: a video's sound track through the voice detector, then lips against speech. Never fails
    the face analysis (the rows record what went wrong); None for images and when the face analysis
    failed for any reason but a missing face."""
    if job.media.kind != Media.Kind.VIDEO or prediction.status not in ("ok", "no_face"):
        return None
    limit = (SoftTimeLimitExceeded,)
    voice = soundtrack.voice_analyse(job=job, path=media_path, work_dir=work_dir, progress=progress,
                                     passthrough=limit)
    sync = soundtrack.sync_analyse(job=job, path=media_path, faces_found=prediction.faces_found or 0, voice=voice,
                                   progress=progress, passthrough=limit)
    timings = getattr(prediction, "timings", None)
    if isinstance(timings, dict):  # the seconds each step took, beside the face analysis's stages
        timings.update(voice=getattr(voice, "timing", None), sync=getattr(sync, "timing", None))
    return voice


def _store_copy(source: str | None, prefix: str, saved: list[str]) -> str:
    if not source:
        return ""
    ext = os.path.splitext(source)[1].lower() or ".bin"
    name = private_storage.generate_filename(f"{prefix}{secrets.token_hex(8)}{ext}")
    if private_storage.is_local:
        path = private_storage.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copyfile(source, path)
    else:
        saved.append(name)  # before the upload: a half-written object is removed too
        private_storage.save_file(name, source)
        return name
    saved.append(name)
    return name

def job_verdict(*, score: float | None, threshold: float | None, faces_found: int,
                face_sizes: list[int], clip_parts: dict | None = None) -> verdicts.Verdict:
    """The verdict for a finished analysis, decided once (detection.verdicts.decide) with the band and
    face size limit from settings."""
    return verdicts.decide(
        score=score,
        threshold=0.5 if threshold is None else threshold,
        band=settings.RESULT_INCONCLUSIVE_BAND,
        faces_found=faces_found,
        face_sizes=face_sizes,
        min_face_px=settings.RESULT_MIN_FACE_PX,
        clip_parts=clip_parts,
    )


def _combined_verdict(job: DetectionJob, prediction, rows: list[FrameResult]):
    """(Verdict, driver): the face verdict combined with the voice and lip-sync evidence (detection.evidence)."""
    face = None
    if job.media.kind != Media.Kind.AUDIO:
        face_verdict = job_verdict(score=prediction.score, threshold=prediction.threshold,
                                   faces_found=prediction.faces_found,
                                   face_sizes=[min(row.x1 - row.x0, row.y1 - row.y0) for row in rows],
                                   clip_parts=getattr(prediction, "clip_parts", None))
        face = evidence.Evidence(evidence.FACE, face_verdict, prediction.score, prediction.threshold)
    return evidence.combine(face=face, voice=VoiceEvidence.objects.filter(job=job).first(),
                            sync=SyncEvidence.objects.filter(job=job).first(),
                            band=settings.RESULT_INCONCLUSIVE_BAND)


def _job_finish(job: DetectionJob, prediction, *, model_card: dict | None = None, playback: str = "",
                preview_path: str | None = None) -> None:
    """Store heatmaps, frame rows and the preview and mark the job done, all or nothing."""
    saved: list[str] = []
    try:
        prefix = f"jobs/{job.pk}/"
        preview = _store_copy(preview_path, prefix, saved)
        rows = [
            FrameResult(
                job=job,
                index=int(frame.index),
                time=float(frame.time),
                x0=int(frame.box[0]),
                y0=int(frame.box[1]),
                x1=int(frame.box[2]),
                y1=int(frame.box[3]),
                score=float(frame.score),
                track=int(frame.track),
                heatmap=_store_copy(frame.heatmap, prefix, saved),
                thumbnail=_store_copy(frame.thumbnail, prefix, saved),
            )
            for frame in prediction.frames
        ]
        verdict, driver = _combined_verdict(job, prediction, rows)
        with transaction.atomic():
            FrameResult.objects.bulk_create(rows)
            # Only under this process's claim: a worker that was taken for dead (and replaced) drops its result.
            updated = DetectionJob.objects.filter(
                pk=job.pk, status=DetectionJob.Status.RUNNING, claimed_by=job.claimed_by
            ).update(
                status=DetectionJob.Status.DONE,
                progress=100,
                stage="done",
                score=prediction.score,
                threshold=prediction.threshold,
                model_version=prediction.model_version,
                faces_found=prediction.faces_found,
                verdict=verdict.key,
                verdict_reason=verdict.reason,
                verdict_driver=driver or "",
                clip_parts=_json_ready(getattr(prediction, "clip_parts", None)),
                playback=playback,
                preview=preview,
                model_card=model_card or {},
                timings=prediction.timings,
                error_code="",
                error_message="",
                finished_at=timezone.now(),
            )
            if updated != 1:
                raise _JobNoLongerRunning()
        job_ended.send_robust(sender=DetectionJob, job_id=job.pk, status=DetectionJob.Status.DONE)
    except _JobNoLongerRunning:
        logger.warning("job %s: no longer running when finishing; result dropped", job.pk)
        remove_quietly(saved)
    except BaseException:
        remove_quietly(saved)
        raise


def _json_ready(parts: dict | None) -> dict | None:
    """Clip parts with plain numbers (numpy floats do not go into a JSON column)."""
    if not isinstance(parts, dict):
        return None
    return {k: (v if v is None or isinstance(v, (str, bool)) else (int(v) if k.startswith("frames") else float(v)))
            for k, v in parts.items()}


class _JobNoLongerRunning(Exception):
    pass

def job_fail(*, job_id: int, code: str, message: str, model_version: str = "", timings: dict | None = None) -> None:
    """End a job that is not final yet as failed, with a code and words a person understands."""
    ended = DetectionJob.objects.filter(
        pk=job_id, status__in=[DetectionJob.Status.QUEUED, DetectionJob.Status.RUNNING]
    ).update(
        status=DetectionJob.Status.FAILED,
        stage="failed",
        error_code=code[:32],
        error_message=message,
        # A file without a face is not a failure of the model: its verdict is "inconclusive".
        verdict=verdicts.INCONCLUSIVE if code == verdicts.NO_FACE else "",
        verdict_reason=verdicts.NO_FACE if code == verdicts.NO_FACE else "",
        model_version=model_version,
        timings=timings or {},
        finished_at=timezone.now(),
    )
    if ended:
        job_ended.send_robust(sender=DetectionJob, job_id=job_id, status=DetectionJob.Status.FAILED)


def job_release(*, job_id: int) -> None:
    """Put a running job back in the queue so its retry can claim it (after a transient error)."""
    try:
        DetectionJob.objects.filter(pk=job_id, status=DetectionJob.Status.RUNNING).update(
            status=DetectionJob.Status.QUEUED, stage="queued", progress=0
        )
    except TRANSIENT_ERRORS:
        logger.warning("job %s: could not be released for retry", job_id, exc_info=True)
