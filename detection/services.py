"""Writes: accept an upload, enqueue its analysis, run a job and record how it ended."""
from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import get_valid_filename

from ml.errors import MediaError
from ml.media import Limits, probe

from . import errors, verdicts
from .models import DetectionJob, FrameResult, Media
from .signals import job_ended
from .storage import private_storage

logger = logging.getLogger(__name__)

# Errors worth a retry: the database went away for a moment. Anything else is a recorded failure.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)
MAX_ATTEMPTS = 3  # claims per job, retries and redeliveries included
PROGRESS_MIN_INTERVAL = 1.0  # seconds between progress writes within one stage


class UploadRejected(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class UploadResult:
    media: Media
    created: bool  # False: the same user already uploaded this content


def upload_limits() -> Limits:
    return Limits(
        max_bytes=settings.UPLOAD_MAX_BYTES,
        max_seconds=settings.UPLOAD_MAX_SECONDS,
        max_side=settings.UPLOAD_MAX_SIDE,
    )


def _sanitised_name(name: str) -> str:
    base = os.path.basename((name or "").replace("\\", "/"))
    try:
        clean = get_valid_filename(base)
    except Exception:  # SuspiciousFileOperation for names like ".."
        clean = ""
    return clean[:200] or "upload"


def _receive(uploaded: UploadedFile, dest: str, max_bytes: int) -> tuple[str, int]:
    """Copy the upload to ``dest`` while hashing; stop early once it is over the size limit."""
    digest = hashlib.sha256()
    size = 0
    with open(dest, "wb") as out:
        for chunk in uploaded.chunks():
            size += len(chunk)
            if size > max_bytes:
                raise UploadRejected("too_large", f"The file is larger than {max_bytes // (1024 * 1024)} MB.")
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


def media_upload(*, owner: AbstractBaseUser, uploaded: UploadedFile) -> UploadResult:
    """Validate and store an upload, create its job and enqueue it once the transaction commits.

    The same owner uploading identical bytes gets the existing media (and its job) back.
    """
    since = timezone.now() - timedelta(hours=1)
    if Media.objects.filter(owner=owner, created__gte=since).count() >= settings.UPLOADS_PER_HOUR:
        raise UploadRejected(errors.RATE_LIMITED, errors.MESSAGES[errors.RATE_LIMITED])

    uploads_dir = os.path.join(private_storage.location, "uploads")
    os.makedirs(uploads_dir, exist_ok=True)
    incoming = os.path.join(uploads_dir, f".incoming-{secrets.token_hex(16)}")
    stored_path = None
    try:
        limits = upload_limits()
        sha256, size = _receive(uploaded, incoming, limits.max_bytes)
        try:
            info = probe(incoming, limits)
        except MediaError as exc:
            raise UploadRejected(exc.code, exc.message) from exc

        existing = Media.objects.filter(owner=owner, sha256=sha256).first()
        if existing is not None:
            return UploadResult(existing, created=False)

        name = f"uploads/{secrets.token_hex(16)}.{info.format}"
        stored_path = private_storage.path(name)
        os.replace(incoming, stored_path)
        try:
            with transaction.atomic():
                media = Media.objects.create(
                    owner=owner,
                    original_name=_sanitised_name(uploaded.name),
                    sha256=sha256,
                    kind=info.kind,
                    format=info.format,
                    file=name,
                    size=size,
                    duration=round(info.duration, 3),
                    width=info.width,
                    height=info.height,
                )
                job = DetectionJob.objects.create(media=media)
                transaction.on_commit(partial(enqueue_analysis, job.pk))
        except IntegrityError:
            # The same content arrived twice at once: keep the first.
            os.unlink(stored_path)
            return UploadResult(Media.objects.get(owner=owner, sha256=sha256), created=False)
        return UploadResult(media, created=True)
    except BaseException:
        if stored_path and os.path.exists(stored_path) and not Media.objects.filter(file=name).exists():
            os.unlink(stored_path)
        raise
    finally:
        if os.path.exists(incoming):
            os.unlink(incoming)


# --- running jobs -------------------------------------------------------------------------------

_inline_lock = threading.Lock()


def enqueue_analysis(job_id: int) -> None:
    """Hand the job to a worker; with the broker down the upload still succeeds (the sweeper sends it)."""
    try:
        send_analysis(job_id)
    except Exception:  # noqa: BLE001 - the job row is committed; jobs_sweep sends it once Redis is back
        logger.warning("job %s: broker unavailable, left queued for the sweeper", job_id, exc_info=True)


def send_analysis(job_id: int) -> None:
    """Celery over the broker, or (no broker set) a thread of this process. Raises if the broker is down."""
    from .tasks import analyse_media

    if settings.CELERY_TASK_ALWAYS_EAGER:
        threading.Thread(target=_run_inline, args=(job_id,), name=f"job-{job_id}", daemon=True).start()
    else:
        analyse_media.delay(job_id)


def _run_inline(job_id: int) -> None:
    from django.db import close_old_connections

    from .tasks import analyse_media

    with _inline_lock:  # one job at a time, like a single worker
        try:
            analyse_media.apply(args=(job_id,))
        finally:
            close_old_connections()


_predictor = None
_predictor_lock = threading.Lock()


def get_predictor():
    """The detector, loaded once per process and kept for every later job."""
    global _predictor
    with _predictor_lock:
        if _predictor is None:
            from ml.inference import Predictor

            started = time.monotonic()
            _predictor = Predictor.load(settings.DETECTOR_CHECKPOINT, backend=settings.DETECTOR_BACKEND,
                                        purify=settings.DETECTOR_PURIFY)
            logger.info(
                "loaded detector %s from %s in %.1f s",
                _predictor.model_version,
                settings.DETECTOR_CHECKPOINT,
                time.monotonic() - started,
            )
        return _predictor


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


def _claimable() -> Q:
    """Queued jobs, and running jobs whose worker must be gone (started longer ago than the hard limit)."""
    stale_before = timezone.now() - timedelta(seconds=settings.DETECTION_HARD_TIME_LIMIT + 60)
    return Q(status=DetectionJob.Status.QUEUED) | Q(status=DetectionJob.Status.RUNNING, started_at__lt=stale_before)


def process_identity() -> str:
    """host:pid of this process, kept on the job it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _claimer_is_dead(claimed_by: str) -> bool:
    """True only when the claim was made on this host by a process that no longer exists.

    A claim from another host is judged by the deadline in ``_claimable`` instead.
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


def _release_if_claimer_died(job_id: int, abandoned_claim: str = "") -> bool:
    """A running job whose worker was killed (kill -9, OOM) goes back to queued at once, so the
    redelivered message (or the sweeper) can claim it again without waiting for the deadline."""
    row = DetectionJob.objects.filter(pk=job_id, status=DetectionJob.Status.RUNNING).values("claimed_by").first()
    # Also a claim that was abandoned: the database went away mid-job, so the job could not be released
    # for its retry; the retry names that claim (it may run in another worker), or runs in this process,
    # which runs one job at a time.
    claim = row["claimed_by"] if row else ""
    abandoned = bool(claim) and claim in (process_identity(), *abandoned_claim.split(","))
    if row is None or not (abandoned or _claimer_is_dead(claim)):
        return False
    released = DetectionJob.objects.filter(
        pk=job_id, status=DetectionJob.Status.RUNNING, claimed_by=row["claimed_by"]
    ).update(status=DetectionJob.Status.QUEUED, stage="queued", progress=0)
    if released:
        logger.warning("job %s: its worker %s is gone; released for another claim", job_id, row["claimed_by"])
    return bool(released)


def job_run(*, job_id: int, abandoned_claim: str = "") -> None:
    """Claim a queued job, analyse its media and end it in done or failed. Safe to call twice.

    ``abandoned_claim``: on a retry after a database error, the claims (comma-separated host:pid) the
    failed tries may have left behind.
    """
    _release_if_claimer_died(job_id, abandoned_claim)
    claimable = _claimable()
    claimed = DetectionJob.objects.filter(claimable, pk=job_id, attempts__lt=MAX_ATTEMPTS).update(
        status=DetectionJob.Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=timezone.now(),
        stage="starting",
        progress=0,
        claimed_by=process_identity(),
    )
    if claimed != 1:
        # Out of attempts (e.g. its worker kept getting killed): end it rather than leave it hanging.
        if DetectionJob.objects.filter(claimable, pk=job_id, attempts__gte=MAX_ATTEMPTS).exists():
            job_fail(job_id=job_id, code=errors.INTERNAL_ERROR, message=errors.MESSAGES[errors.INTERNAL_ERROR])
        logger.info("job %s: not claimable (already running or final), skipping", job_id)
        return
    try:
        _analyse(DetectionJob.objects.select_related("media").get(pk=job_id))
    except TRANSIENT_ERRORS:
        job_release(job_id=job_id)
        raise
    except SoftTimeLimitExceeded:
        logger.warning("job %s: soft time limit reached", job_id)
        job_fail(job_id=job_id, code=errors.TIMEOUT, message=errors.MESSAGES[errors.TIMEOUT])
    except OSError:  # writing heatmaps to storage failed (disk full, permissions): nothing was kept
        logger.exception("job %s: storage write failed", job_id)
        job_fail(job_id=job_id, code=errors.STORAGE_ERROR, message=errors.MESSAGES[errors.STORAGE_ERROR])
    except Exception:
        logger.exception("job %s: unexpected error", job_id)
        job_fail(job_id=job_id, code=errors.INTERNAL_ERROR, message=errors.MESSAGES[errors.INTERNAL_ERROR])


def _analyse(job: DetectionJob) -> None:
    predictor = get_predictor()
    with tempfile.TemporaryDirectory(prefix=f"job-{job.pk}-") as heatmap_dir:
        prediction = predictor.predict(
            job.media.file.path,
            frames=settings.DETECTOR_FRAMES,
            heatmap_dir=heatmap_dir,
            max_heatmaps=settings.DETECTOR_MAX_HEATMAPS,
            progress=_ProgressReporter(job.pk),
            passthrough=(SoftTimeLimitExceeded,),
        )
        if prediction.status != "ok":
            code = prediction.error_code or prediction.status
            job_fail(job_id=job.pk, code=code, message=errors.message_for(code, prediction.error),
                     model_version=prediction.model_version, timings=prediction.timings)
            return
        _job_finish(job, prediction, model_card=model_card_summary(predictor))


def _store_copy(source: str | None, prefix: str, saved: list[str]) -> str:
    if not source:
        return ""
    ext = os.path.splitext(source)[1].lower() or ".bin"
    name = private_storage.generate_filename(f"{prefix}{secrets.token_hex(8)}{ext}")
    path = private_storage.path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    shutil.copyfile(source, path)
    saved.append(path)
    return name


def model_card_summary(predictor) -> dict:
    """What reports need from the model card: small, and kept on the job that the model ran."""
    card = getattr(predictor, "card", None) or {}
    keys = ("version", "date", "git_commit", "threshold", "training_data", "metrics", "clip_rule")
    summary = {key: card[key] for key in keys if key in card}
    pre = card.get("preprocessing") or {}
    summary["input_size"] = pre.get("input_size")
    summary["frames"] = pre.get("frames")
    summary["backend"] = getattr(predictor, "backend", "")
    return summary


def job_verdict(*, score: float | None, threshold: float | None, faces_found: int,
                face_sizes: list[int]) -> verdicts.Verdict:
    """The verdict in words for a finished analysis, with the band and face size limit from settings."""
    return verdicts.verdict_for_score(
        score=score,
        threshold=0.5 if threshold is None else threshold,
        band=settings.RESULT_INCONCLUSIVE_BAND,
        faces_found=faces_found,
        face_sizes=face_sizes,
        min_face_px=settings.RESULT_MIN_FACE_PX,
    )


def _job_finish(job: DetectionJob, prediction, *, model_card: dict | None = None) -> None:
    """Store heatmaps and frame rows and mark the job done, all or nothing."""
    saved: list[str] = []
    try:
        prefix = f"jobs/{job.pk}/"
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
        verdict = job_verdict(
            score=prediction.score,
            threshold=prediction.threshold,
            faces_found=prediction.faces_found,
            face_sizes=[min(row.x1 - row.x0, row.y1 - row.y0) for row in rows],
        )
        with transaction.atomic():
            FrameResult.objects.bulk_create(rows)
            updated = DetectionJob.objects.filter(pk=job.pk, status=DetectionJob.Status.RUNNING).update(
                status=DetectionJob.Status.DONE,
                progress=100,
                stage="done",
                label=prediction.label or "",
                score=prediction.score,
                threshold=prediction.threshold,
                model_version=prediction.model_version,
                faces_found=prediction.faces_found,
                verdict=verdict.key,
                verdict_reason=verdict.reason,
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
        _remove(saved)
    except BaseException:
        _remove(saved)
        raise


class _JobNoLongerRunning(Exception):
    pass


def _remove(paths: list[str]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
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


# --- the sweeper --------------------------------------------------------------------------------


@dataclass
class SweepReport:
    requeued: list[int]
    failed: list[int]
    skipped_pending: int  # queued jobs left alone: their message is still in the broker
    broker_error: str = ""


def jobs_sweep(*, queued_after: float | None = None, max_requeues: int | None = None) -> SweepReport:
    """Send a message again for every job the broker lost, up to a limit; then fail it with a reason.

    Jobs live in the database, so a message lost with Redis, or a worker killed mid-job, leaves a row
    that nothing will pick up. Candidates: queued jobs whose last message is older than
    ``queued_after`` seconds and not in the broker any more; running jobs whose worker on this host is
    dead; running jobs past the deadline (``_claimable``). A job out of claims (MAX_ATTEMPTS) or
    requeues (``max_requeues``) is failed instead. Safe to run anywhere, any number of times: the
    claim in ``job_run`` drops duplicate messages.
    """
    queued_after = settings.SWEEP_QUEUED_SECONDS if queued_after is None else queued_after
    max_requeues = settings.SWEEP_MAX_REQUEUES if max_requeues is None else max_requeues
    report = SweepReport(requeued=[], failed=[], skipped_pending=0)
    running = DetectionJob.objects.filter(status=DetectionJob.Status.RUNNING).values_list("pk", flat=True)
    # Their message sits unacknowledged with the dead worker until Redis's visibility timeout: send now.
    orphaned = [job_id for job_id in list(running) if _release_if_claimer_died(job_id)]

    old_message = timezone.now() - timedelta(seconds=queued_after)
    stale_running = Q(status=DetectionJob.Status.RUNNING) & _claimable()
    candidates = list(
        DetectionJob.objects.filter(
            Q(status=DetectionJob.Status.QUEUED, enqueued_at__lt=old_message)
            | Q(status=DetectionJob.Status.QUEUED, pk__in=orphaned)
            | stale_running
        ).order_by("pk").values("pk", "status", "attempts", "requeues")
    )
    pending = broker_pending_job_ids() if candidates else set()
    for job in candidates:
        if pending is not None and job["pk"] in pending and job["pk"] not in orphaned:
            report.skipped_pending += 1
            continue
        if job["attempts"] >= MAX_ATTEMPTS or job["requeues"] >= max_requeues:
            job_fail(job_id=job["pk"], code=errors.STUCK, message=errors.MESSAGES[errors.STUCK])
            report.failed.append(job["pk"])
            continue
        try:
            send_analysis(job["pk"])
        except Exception as exc:  # the broker is down: try again on the next sweep, count nothing
            logger.warning("sweep: could not enqueue job %s: %s", job["pk"], exc)
            report.broker_error = str(exc)
            break
        DetectionJob.objects.filter(pk=job["pk"]).update(requeues=F("requeues") + 1, enqueued_at=timezone.now())
        report.requeued.append(job["pk"])
    if report.requeued or report.failed:
        logger.info("sweep: requeued %s, failed %s", report.requeued, report.failed)
    return report


def broker_pending_job_ids() -> set[int] | None:
    """Job ids with a message waiting in the Redis queue.

    Messages a worker has taken but not acknowledged are not counted: that worker may be dead (its
    message then waits for Redis's visibility timeout), and if it is alive a second message costs only
    a skipped claim. None when that cannot be told (no Redis broker, or it does not answer): the caller then goes by
    time alone, and a duplicate message costs one skipped claim.
    """
    import base64
    import json

    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.CELERY_BROKER_URL.startswith("redis"):
        return None
    from deepfake_portal.celery import app

    def job_id_of(payload: bytes | str) -> int | None:
        try:
            message = json.loads(payload)
            if message.get("headers", {}).get("task") != "detection.tasks.analyse_media":
                return None
            body = message["body"]
            if message.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            args = json.loads(body)[0]
            return int(args[0])
        except Exception:  # noqa: BLE001 - a message we cannot read is not ours
            return None

    try:
        with app.connection_for_write() as connection:
            channel = connection.default_channel
            client = channel.client
            queue = app.conf.task_default_queue
            payloads = []
            for priority in channel.priority_steps:
                payloads += client.lrange(channel._q_for_pri(queue, priority), 0, -1)
    except Exception as exc:  # noqa: BLE001
        logger.warning("sweep: cannot read the broker's queue: %s", exc)
        return None
    return {job_id for job_id in map(job_id_of, payloads) if job_id is not None}


# --- deleting uploads ---------------------------------------------------------------------------


def media_delete(*, media: Media) -> None:
    """Remove an upload, its job and frame rows, and then (once that is committed) all their files."""
    names = [media.file.name]
    job = getattr(media, "job", None)
    if job is not None:
        for heatmap, thumbnail in FrameResult.objects.filter(job=job).values_list("heatmap", "thumbnail"):
            names += [heatmap, thumbnail]
    job_dir = private_storage.path(f"jobs/{job.pk}") if job is not None else None
    paths = [private_storage.path(name) for name in names if name]
    with transaction.atomic():
        media.delete()
        transaction.on_commit(partial(_remove_files, paths, job_dir))


def _remove_files(paths: list[str], directory: str | None) -> None:
    _remove(paths)
    if directory and os.path.isdir(directory):
        shutil.rmtree(directory, ignore_errors=True)
