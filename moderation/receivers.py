"""Receivers for other apps' signals: they only hand work to services."""
import logging

from . import services

logger = logging.getLogger(__name__)


def on_job_ended(sender, *, job_id: int, status: str, **kwargs) -> None:
    """A job's final state is committed: flag it for review if a moderation rule applies (a failed job
    only for a valid AI-generation claim; ``services.flag_reasons`` decides)."""
    if status not in ("done", "failed"):
        return
    try:
        services.flag_if_needed(job_id=job_id)
    except Exception:
        # The job is already final; a moderation problem must not touch it.
        logger.exception("job %s: could not be checked for moderation", job_id)
