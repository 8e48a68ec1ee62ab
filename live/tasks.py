"""Celery adapter for live frames: a frame in, one scoring call, the answer sent to the socket's channel."""
import base64
import logging

from asgiref.sync import async_to_sync
from celery import shared_task
from channels.layers import get_channel_layer

from . import scoring

logger = logging.getLogger(__name__)


# Acked late so that a busy worker holds no second frame in its own buffer (it would only go stale there): the
# next frame waits in Redis for whichever worker is free first. Never retried: a frame is worth nothing late,
# and a redelivered one is dropped as stale; a lost one is noticed by the socket (answer timeout).
@shared_task(acks_late=True, reject_on_worker_lost=False, ignore_result=True, soft_time_limit=30, time_limit=60)
def score_live_frame(reply_channel: str, seq: int, jpeg_b64: str, queued_at: float, stale_after: float) -> None:
    try:
        answer = scoring.score_frame(base64.b64decode(jpeg_b64), queued_at, stale_after)
    except Exception:  # noqa: BLE001 - the socket must hear back whatever happened
        logger.exception("live frame %s could not be scored", seq)
        answer = {"status": "error"}
    async_to_sync(get_channel_layer().send)(reply_channel, {"type": "frame.scored", "seq": seq, **answer})
