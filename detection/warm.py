"""A worker's pool process loads the serving detector as it starts, so its first job does not wait for it.

The load runs in a thread: Celery gives a starting pool process a few seconds to report itself up, and a
model load on a busy machine can take longer. A job that comes first waits on ``detector.get_predictor``'s
lock and then finds the model loaded. A failure here is only logged: the job's own load reports it.
"""
from __future__ import annotations

import logging
import threading

from celery.signals import worker_process_init

logger = logging.getLogger(__name__)


def _load() -> None:
    from django.db import connection

    from detection import detector

    try:
        detector.get_predictor()
    except Exception:  # noqa: BLE001 - the first job will load it again and fail with its reason
        logger.warning("warm start: the detector did not load", exc_info=True)
    finally:
        connection.close()  # this thread's own database connection


@worker_process_init.connect
def warm_start(**_) -> threading.Thread:
    thread = threading.Thread(target=_load, name="detector-warm-start", daemon=True)
    thread.start()
    return thread
