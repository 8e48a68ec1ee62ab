"""Queues: which queue a job goes to, sending it there, and what the broker still holds."""
from __future__ import annotations

import logging
import threading

from django.conf import settings

from deepfake_portal.celery import run_task

from .models import Media

logger = logging.getLogger(__name__)

ANALYSE_TASK = "detection.tasks.analyse_media"  # sent by name: this module never imports the tasks

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
    if settings.CELERY_TASK_ALWAYS_EAGER:
        threading.Thread(target=_run_inline, args=(job_id,), name=f"job-{job_id}", daemon=True).start()
    else:
        media = Media.objects.filter(job__pk=job_id).values("kind", "duration").first() or {}
        queue = queue_for(kind=media.get("kind", ""), duration=media.get("duration") or 0.0)
        run_task(ANALYSE_TASK, args=(job_id,), queue=queue)


def _run_inline(job_id: int) -> None:
    from django.db import close_old_connections

    with _inline_lock:  # one job at a time, like a single worker
        try:
            run_task(ANALYSE_TASK, args=(job_id,))
        finally:
            close_old_connections()


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
            if message.get("headers", {}).get("task") != ANALYSE_TASK:
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
