"""Sweeping: resend jobs the broker lost, fail those out of tries, and remove files no row names."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from . import errors, jobs, queues
from .models import DetectionJob, FrameResult, Media
from .storage import private_storage, remove_quietly

logger = logging.getLogger(__name__)


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
    dead; running jobs past the deadline (``jobs.claimable``). A job out of claims (MAX_ATTEMPTS) or
    requeues (``max_requeues``) is failed instead. Safe to run anywhere, any number of times: the
    claim in ``jobs.job_run`` drops duplicate messages.
    """
    queued_after = settings.SWEEP_QUEUED_SECONDS if queued_after is None else queued_after
    max_requeues = settings.SWEEP_MAX_REQUEUES if max_requeues is None else max_requeues
    report = SweepReport(requeued=[], failed=[], skipped_pending=0)
    running = DetectionJob.objects.filter(status=DetectionJob.Status.RUNNING).values_list("pk", flat=True)
    # Their message sits unacknowledged with the dead worker until Redis's visibility timeout: send now.
    orphaned = [job_id for job_id in list(running) if jobs.release_if_claimer_died(job_id)]

    old_message = timezone.now() - timedelta(seconds=queued_after)
    stale_running = Q(status=DetectionJob.Status.RUNNING) & jobs.claimable()
    candidates = list(
        DetectionJob.objects.filter(
            Q(status=DetectionJob.Status.QUEUED, enqueued_at__lt=old_message)
            | Q(status=DetectionJob.Status.QUEUED, pk__in=orphaned)
            | stale_running
        ).order_by("pk").values("pk", "status", "attempts", "requeues")
    )
    pending = queues.broker_pending_job_ids() if candidates else set()
    for job in candidates:
        if pending is not None and job["pk"] in pending and job["pk"] not in orphaned:
            report.skipped_pending += 1
            continue
        if job["attempts"] >= jobs.MAX_ATTEMPTS or job["requeues"] >= max_requeues:
            jobs.job_fail(job_id=job["pk"], code=errors.STUCK, message=errors.MESSAGES[errors.STUCK])
            report.failed.append(job["pk"])
            continue
        try:
            queues.send_analysis(job["pk"])
        except Exception as exc:  # the broker is down: try again on the next sweep, count nothing
            logger.warning("sweep: could not enqueue job %s: %s", job["pk"], exc)
            report.broker_error = str(exc)
            break
        DetectionJob.objects.filter(pk=job["pk"]).update(requeues=F("requeues") + 1, enqueued_at=timezone.now())
        report.requeued.append(job["pk"])
    if report.requeued or report.failed:
        logger.info("sweep: requeued %s, failed %s", report.requeued, report.failed)
    return report


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
        remove_quietly([name])
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
