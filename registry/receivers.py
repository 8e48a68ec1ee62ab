"""Receivers for other apps' signals: a finished job is handed to the shadow model, if there is one."""
import logging

from . import shadow

logger = logging.getLogger(__name__)


def on_job_ended(sender, *, job_id: int, status: str, **kwargs) -> None:
    if status != "done":
        return
    try:
        shadow.enqueue_for(job_id)
    except Exception:  # the job is final; a shadow problem must not touch it
        logger.exception("job %s: could not be sent for shadow scoring", job_id)
