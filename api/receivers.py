"""Receivers for other apps' signals: they only hand work to services."""
import logging

from . import services

logger = logging.getLogger(__name__)


def on_job_ended(sender, *, job_id: int, status: str, **kwargs) -> None:
    try:
        services.webhook_job_ended(job_id=job_id)
    except Exception:
        # The job is already final; a webhook problem must not touch it.
        logger.exception("job %s: could not start its webhook delivery", job_id)
