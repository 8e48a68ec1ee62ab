"""Writes: accept an upload, enqueue its analysis, run a job and record how it ended."""
from __future__ import annotations

import contextlib
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
try:  # object storage that refuses or is away: a storage error like a full disk
    from botocore.exceptions import BotoCoreError, ClientError

    STORAGE_ERRORS: tuple = (BotoCoreError, ClientError)
except ImportError:  # pragma: no cover - boto3 is only needed with PRIVATE_STORAGE=s3
    STORAGE_ERRORS = ()
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

    # The bytes land in a local file first (probed, hashed): in the storage folder itself when it is
    # local (then renamed into place), else in a temporary folder and then uploaded to the bucket.
    if private_storage.is_local:
        incoming_dir = os.path.join(private_storage.path(""), "uploads")
    else:
        incoming_dir = settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir()
    os.makedirs(incoming_dir, exist_ok=True)
    incoming = os.path.join(incoming_dir, f".incoming-{secrets.token_hex(16)}")
    stored_name = None
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
        if private_storage.is_local:
            os.replace(incoming, private_storage.path(name))
        else:
            stored_name = name  # a half-written object is removed below
            try:
                private_storage.save_file(name, incoming)
            except STORAGE_ERRORS as exc:
                logger.warning("upload not stored: %s", exc)
                raise UploadRejected(errors.STORAGE_UNAVAILABLE, errors.MESSAGES[errors.STORAGE_UNAVAILABLE]) from exc
        stored_name = name
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
            private_storage.delete(stored_name)
            stored_name = None
            return UploadResult(Media.objects.get(owner=owner, sha256=sha256), created=False)
        return UploadResult(media, created=True)
    except BaseException:
        # Not committed: remove the stored file (if this process dies first, the sweeper's orphan pass does).
        if stored_name and not Media.objects.filter(file=stored_name).exists():
            _remove([stored_name])
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


def queue_for(*, kind: str, duration: float) -> str:
    """The queue for a job by its work: long videos on their own queue, everything else on the fast one."""
    if kind == Media.Kind.VIDEO and duration > settings.LONG_VIDEO_SECONDS:
        return settings.DETECTION_LONG_QUEUE
    return settings.DETECTION_QUEUE


def detection_queues() -> list[str]:
    """Every queue a detection message may wait in (the Celery default queue too: retries, old messages)."""
    from deepfake_portal.celery import app

    return list(dict.fromkeys([settings.DETECTION_QUEUE, settings.DETECTION_LONG_QUEUE, app.conf.task_default_queue]))


def send_analysis(job_id: int) -> None:
    """Celery over the broker, or (no broker set) a thread of this process. Raises if the broker is down."""
    from .tasks import analyse_media

    if settings.CELERY_TASK_ALWAYS_EAGER:
        threading.Thread(target=_run_inline, args=(job_id,), name=f"job-{job_id}", daemon=True).start()
    else:
        media = Media.objects.filter(job__pk=job_id).values("kind", "duration").first() or {}
        queue = queue_for(kind=media.get("kind", ""), duration=media.get("duration") or 0.0)
        analyse_media.apply_async(args=(job_id,), queue=queue)


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


def _heartbeat_stopped(heartbeat_at) -> bool:
    """The claimer's heartbeat (any host) is older than JOB_HEARTBEAT_TIMEOUT. No heartbeat: unknown."""
    if heartbeat_at is None:
        return False
    return heartbeat_at < timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)


def _release_if_claimer_died(job_id: int, abandoned_claim: str = "") -> bool:
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
    _release_if_claimer_died(job_id, abandoned_claim)
    claimable = _claimable()
    claim = process_identity()
    claimed = DetectionJob.objects.filter(claimable, pk=job_id, attempts__lt=MAX_ATTEMPTS).update(
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
        if DetectionJob.objects.filter(claimable, pk=job_id, attempts__gte=MAX_ATTEMPTS).exists():
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
    predictor = get_predictor()
    # Local storage: the file itself. Object storage: a temporary download, removed whatever happens.
    with tempfile.TemporaryDirectory(prefix=f"job-{job.pk}-") as heatmap_dir, \
            private_storage.local_copy(job.media.file.name, directory=heatmap_dir) as media_path:
        prediction = predictor.predict(
            media_path,
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


def model_card_summary(predictor) -> dict:
    """What reports need from the model card: small, and kept on the job that the model ran."""
    card = getattr(predictor, "card", None) or {}
    keys = ("version", "date", "git_commit", "threshold", "training_data", "metrics", "clip_rule", "calibration")
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
            # Only under this process's claim: a worker that was taken for dead (and replaced) drops its result.
            updated = DetectionJob.objects.filter(
                pk=job.pk, status=DetectionJob.Status.RUNNING, claimed_by=job.claimed_by
            ).update(
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


def _remove(names: list[str]) -> None:
    """Delete stored files by name; a failure is logged (the sweeper's orphan pass removes them later)."""
    for name in names:
        try:
            private_storage.delete(name)
        except Exception:  # noqa: BLE001 - storage may be away; never mask the caller's own outcome
            logger.warning("could not remove %s from storage", name, exc_info=True)


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
            payloads = []
            for queue in detection_queues():
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
    job_prefix = f"jobs/{job.pk}/" if job is not None else None
    with transaction.atomic():
        media.delete()
        transaction.on_commit(partial(_remove_files, [name for name in names if name], job_prefix))


def _remove_files(names: list[str], prefix: str | None) -> None:
    _remove(names)
    if prefix:
        try:
            private_storage.delete_prefix(prefix)
        except Exception:  # noqa: BLE001 - the orphan sweep finds what is left
            logger.warning("could not remove %s from storage", prefix, exc_info=True)


# --- files no row names -------------------------------------------------------------------------


@dataclass
class OrphanReport:
    removed: list[str]
    kept_young: int  # unreferenced, but younger than the age limit (may be about to be committed)


def storage_sweep(*, older_than: float | None = None) -> OrphanReport:
    """Remove stored files that no row names: an upload whose row was never committed (the web process
    died in between), results of a job that is gone, or of an attempt that never finished. Files of a
    job still queued or running are left to it (its next attempt clears them), and so is anything
    younger than ``older_than`` seconds (default SWEEP_ORPHAN_SECONDS)."""
    older_than = settings.SWEEP_ORPHAN_SECONDS if older_than is None else older_than
    cutoff = timezone.now() - timedelta(seconds=older_than)
    report = OrphanReport(removed=[], kept_young=0)

    def batches(prefix: str, size: int = 500):
        batch = []
        for name, modified in private_storage.walk(prefix):
            batch.append((name, modified))
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def drop(name: str, modified) -> None:
        if modified >= cutoff:
            report.kept_young += 1
            return
        _remove([name])
        report.removed.append(name)

    for batch in batches("uploads/"):
        known = set(Media.objects.filter(file__in=[n for n, _ in batch]).values_list("file", flat=True))
        for name, modified in batch:
            if name not in known:
                drop(name, modified)
    for batch in batches("jobs/"):
        by_job: dict[int, list] = {}
        for name, modified in batch:
            part = name.split("/")[1] if name.count("/") >= 2 else ""
            by_job.setdefault(int(part) if part.isdigit() else -1, []).append((name, modified))
        status = dict(DetectionJob.objects.filter(pk__in=list(by_job)).values_list("pk", "status"))
        names = [n for n, _ in batch]
        known = set(FrameResult.objects.filter(heatmap__in=names).values_list("heatmap", flat=True))
        known |= set(FrameResult.objects.filter(thumbnail__in=names).values_list("thumbnail", flat=True))
        for job_id, files in by_job.items():
            if status.get(job_id) in (DetectionJob.Status.QUEUED, DetectionJob.Status.RUNNING):
                continue
            for name, modified in files:
                if name not in known:
                    drop(name, modified)
    if report.removed:
        logger.info("storage sweep: removed %d orphaned files", len(report.removed))
    return report
