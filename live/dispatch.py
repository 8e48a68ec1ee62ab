"""Hand a live frame to the scoring workers, off the ASGI event loop: Celery workers on LIVE_QUEUE or a
process pool of this server (LIVE_SCORER). Either way the answer comes back through the channel layer
to the socket's channel, as {"type": "frame.scored", "seq": ..., ...}, one message at a time."""
from __future__ import annotations

import asyncio
import base64
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from channels.layers import get_channel_layer
from django.conf import settings

from deepfake_portal.celery import run_task

from . import scoring

SCORE_TASK = "live.tasks.score_live_frame"

logger = logging.getLogger(__name__)

_pool: ProcessPoolExecutor | None = None


def _process_pool() -> ProcessPoolExecutor:
    """The pool, started on first use; spawned (not forked) processes, each loading the detector once."""
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(settings.LIVE_POOL_PROCESSES, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=scoring.warm_up)
    return _pool


def stop_pool() -> None:
    """Stop the pool's processes (a server's exit does it by itself; tests call this)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
        _pool = None


def warm_up() -> None:
    """Start the pool's processes now (they load the detector), so a session's first frames are not lost."""
    if settings.LIVE_SCORER == "pool":
        for _ in range(settings.LIVE_POOL_PROCESSES):
            _process_pool().submit(time.time)


async def submit(*, seq: int, jpeg: bytes, reply_channel: str) -> None:
    """Score frame ``seq``; the answer goes to ``reply_channel``."""
    queued_at, stale_after = time.time(), settings.LIVE_STALE_SECONDS
    if settings.LIVE_SCORER == "celery":
        await asyncio.to_thread(run_task, SCORE_TASK, queue=settings.LIVE_QUEUE,
                                args=(reply_channel, seq, base64.b64encode(jpeg).decode(), queued_at, stale_after))
        return
    future = _process_pool().submit(scoring.score_frame, jpeg, queued_at, stale_after)
    asyncio.ensure_future(_answer_when_done(future, seq, reply_channel))


async def _answer_when_done(future, seq: int, reply_channel: str) -> None:
    global _pool
    try:
        answer = await asyncio.wrap_future(future)
    except BrokenProcessPool:  # a pool process died (killed, out of memory): the next frame gets a new pool
        logger.error("the live scoring pool broke; starting a new one")
        _pool = None
        answer = {"status": "error"}
    except Exception:  # noqa: BLE001 - the socket must hear back whatever happened
        logger.exception("live frame %s could not be scored", seq)
        answer = {"status": "error"}
    await get_channel_layer().send(reply_channel, {"type": "frame.scored", "seq": seq, **answer})
