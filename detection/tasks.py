"""Celery adapter: a job id in, one service call; owns retries and time limits only."""
from celery import shared_task
from django.conf import settings

from . import errors, jobs, warm  # noqa: F401 - warm: pool processes load the detector as they start


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=3,
    soft_time_limit=settings.DETECTION_SOFT_TIME_LIMIT,
    time_limit=settings.DETECTION_HARD_TIME_LIMIT,
)
def analyse_media(self, job_id: int, abandoned_claim: str = "") -> None:
    try:
        jobs.job_run(job_id=job_id, abandoned_claim=abandoned_claim,
                         heartbeat=not settings.CELERY_TASK_ALWAYS_EAGER)  # in-process runs need none
    except jobs.TRANSIENT_ERRORS as exc:
        if self.request.retries >= self.max_retries:
            jobs.job_fail(job_id=job_id, code=errors.INTERNAL_ERROR, message=errors.MESSAGES[errors.INTERNAL_ERROR])
            raise
        # The retry may run in another worker: it names the claims the failed tries may have left, so it
        # can take the job over (bounded by max_retries).
        claims = ",".join(filter(None, [abandoned_claim, jobs.process_identity()]))
        raise self.retry(exc=exc, countdown=min(60, 5 * 2**self.request.retries), kwargs={"abandoned_claim": claims})
