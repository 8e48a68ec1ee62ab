"""The live socket: frames in, one answer per frame out, scoring handed to workers, stale frames dropped.

Per session at most LIVE_IN_FLIGHT frames are being scored; a frame that arrives while they are busy
waits as the one "next" frame, and a newer arrival replaces it (the older one is answered "dropped":
stale). So a slow machine answers less often, never later and later. Frames over the user's
LIVE_MAX_FPS are dropped on arrival. Everything slow (scoring, database, disk) runs off the event loop.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from dataclasses import dataclass

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.urls import reverse

from detection.intake import UploadRejected

from . import dispatch, protocol, services
from .recording import Recording
from .tracker import Tracker

logger = logging.getLogger(__name__)

WATCH_SECONDS = 1.0  # how often the watchdog looks at the session's clock and lost answers
ANSWER_TIMEOUT = 20.0  # seconds: an answer that never came (a worker died) frees its slot, answered "dropped"

# Frames each user sent in the last second, in this server process (the LIVE_MAX_FPS cap is per user).
_recent_frames: dict[int, deque] = {}


def _fps_allows(user_id: int, now: float) -> bool:
    times = _recent_frames.setdefault(user_id, deque())
    while times and times[0] <= now - 1.0:
        times.popleft()
    if len(times) >= settings.LIVE_MAX_FPS:
        return False
    times.append(now)
    return True


@dataclass
class Waiting:
    seq: int
    jpeg: bytes
    received: float  # monotonic


class LiveConsumer(AsyncWebsocketConsumer):
    # --- the socket's life -----------------------------------------------------------------------
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        self.user = user
        self.closing = False
        self.row = await database_sync_to_async(services.session_open)(user=user)
        await self.accept()
        if self.row is None:
            await self.refuse(protocol.Refusal("busy"))
            return
        self.started = time.monotonic()
        self.seq = 0
        self.counts = {"received": 0, "scored": 0, "dropped": 0}
        self.in_flight: dict[int, float] = {}  # seq -> monotonic time it was received
        self.next_frame: Waiting | None = None
        self.ended = False
        self.saving = False
        self.finished = False
        self.saver: asyncio.Task | None = None
        self.tracker = Tracker(window=settings.LIVE_WINDOW_SECONDS, band=settings.RESULT_INCONCLUSIVE_BAND)
        self.recording = Recording(max_bytes=settings.LIVE_RECORD_MAX_BYTES, parent=settings.LIVE_RECORD_DIR)
        self.told_full = False
        self.touched = time.monotonic()
        dispatch.warm_up()
        self.watchdog = asyncio.create_task(self.watch())
        await self.send_json({
            "type": "ready", "session": self.row.pk, "band": settings.RESULT_INCONCLUSIVE_BAND,
            "limits": {"max_fps": settings.LIVE_MAX_FPS, "max_frame_bytes": settings.LIVE_MAX_FRAME_BYTES,
                       "max_frame_side": settings.LIVE_MAX_FRAME_SIDE, "max_seconds": settings.LIVE_MAX_SECONDS,
                       "in_flight": settings.LIVE_IN_FLIGHT, "window_seconds": settings.LIVE_WINDOW_SECONDS},
        })

    async def disconnect(self, code):
        self.closing = True
        await self.finish(f"closed {code}")

    async def finish(self, reason: str) -> None:
        """Once per session, when either side closes: the row ends, the frames on disk go."""
        if getattr(self, "row", None) is None or self.finished:
            return
        self.finished = True
        if self.watchdog is not asyncio.current_task():  # the watchdog may be the one finishing (time up)
            self.watchdog.cancel()
        if self.saver is not None and not self.saver.done():  # a save under way still becomes a job
            await asyncio.wait([self.saver], timeout=300)
        await database_sync_to_async(services.session_close)(session_id=self.row.pk, reason=reason, **self.counts)
        await asyncio.to_thread(self.recording.discard)

    async def refuse(self, refusal: protocol.Refusal) -> None:
        """Say why, then close with the refusal's code and key: never a traceback."""
        if self.closing:
            return
        await self.send_json({"type": "error", "code": refusal.key, "message": refusal.message})
        self.closing = True
        await self.finish(refusal.key)  # before the close: the row says why by the time the client knows
        await self.close(code=refusal.close_code, reason=refusal.key)

    async def send_json(self, message: dict) -> None:
        if not getattr(self, "closing", False) or message.get("type") == "error":
            await self.send(text_data=json.dumps(message))

    # --- messages from the client ----------------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None):
        if self.closing:
            return
        try:
            if bytes_data is not None:
                await self.on_frame(bytes_data)
            else:
                await self.on_control(protocol.parse_control(text_data or ""))
        except protocol.Refusal as refusal:
            await self.refuse(refusal)
        except Exception:  # noqa: BLE001 - logged here; the client gets words and a close code
            logger.exception("live session %s: unexpected error", self.row.pk)
            await self.refuse(protocol.Refusal("internal_error"))

    async def on_control(self, message: dict) -> None:
        if message["type"] == "stop":
            self.closing = True
            await self.finish("stopped")
            await self.close(code=protocol.CLOSE_NORMAL, reason="stopped")
        elif message["type"] == "save":  # in the background: frames and answers go on while the video is made
            self.saver = asyncio.create_task(self.save())

    async def on_frame(self, data: bytes) -> None:
        protocol.frame_size(data, max_bytes=settings.LIVE_MAX_FRAME_BYTES, max_side=settings.LIVE_MAX_FRAME_SIDE)
        self.seq += 1
        seq, now = self.seq, time.monotonic()
        self.counts["received"] += 1
        if self.ended:
            return await self.drop(seq, "session_over")
        if not _fps_allows(self.user.pk, now):
            return await self.drop(seq, "fps_cap")
        kept = await asyncio.to_thread(self.recording.add, now - self.started, data)
        if not kept and not self.told_full:
            self.told_full = True
            await self.send_json({"type": "notice", "code": "recording_full",
                                  "message": f"Saving keeps the first {self.recording.seconds:.0f} seconds only."})
        if len(self.in_flight) < settings.LIVE_IN_FLIGHT:
            await self.score(Waiting(seq, data, now))
        else:
            if self.next_frame is not None:
                await self.drop(self.next_frame.seq, "stale")
            self.next_frame = Waiting(seq, data, now)

    # --- scoring ---------------------------------------------------------------------------------
    async def score(self, frame: Waiting) -> None:
        self.in_flight[frame.seq] = frame.received
        await dispatch.submit(seq=frame.seq, jpeg=frame.jpeg, reply_channel=self.channel_name)

    async def frame_scored(self, event: dict) -> None:
        """A worker's answer, through the channel layer ("frame.scored")."""
        if self.closing:
            return
        seq = event["seq"]
        received = self.in_flight.pop(seq, None)
        if received is None:  # already given up on (answer timeout)
            return
        status = event.get("status")
        if status == "bad_frame":
            return await self.refuse(protocol.Refusal("bad_frame", event.get("message") or ""))
        if status in ("ok", "no_face"):
            t = received - self.started
            self.tracker.add(t, event.get("score") if status == "ok" else None, event.get("threshold"))
            self.counts["scored"] += 1
            await self.send_json({
                "type": "score", "seq": seq, "t": round(t, 3), "status": status,
                "score": event.get("score"), "box": event.get("box"), "faces": event.get("faces", 0),
                "heatmap": event.get("heatmap") or "", "threshold": event.get("threshold"),
                "running": _round(self.tracker.running), "session": _round(self.tracker.session),
                "verdict": self.tracker.verdict(), "model_version": event.get("model_version"),
                "server_ms": round((time.monotonic() - received) * 1000), "score_ms": event.get("score_ms"),
                "counts": self.counts,
            })
        else:  # "dropped" (it waited too long for a worker) or "error"
            await self.drop(seq, "stale" if status == "dropped" else "error")
        await self.score_next()

    async def score_next(self) -> None:
        frame, self.next_frame = self.next_frame, None
        if frame is None or len(self.in_flight) >= settings.LIVE_IN_FLIGHT:
            self.next_frame = frame
            return
        if time.monotonic() - frame.received > settings.LIVE_STALE_SECONDS:
            await self.drop(frame.seq, "stale")
        else:
            await self.score(frame)

    async def drop(self, seq: int, reason: str) -> None:
        self.counts["dropped"] += 1
        await self.send_json({"type": "dropped", "seq": seq, "reason": reason, "counts": self.counts})

    # --- save ------------------------------------------------------------------------------------
    async def save(self) -> None:
        """The frames so far become an ordinary upload and job (their own thread: the video takes a while)."""
        if self.saving:
            return await self.send_json({"type": "error", "code": "saving", "message": "A save is already running."})
        if not self.recording.frames:
            return await self.send_json({"type": "error", "code": "nothing_to_save",
                                         "message": "No frame has arrived yet, so there is nothing to save."})
        self.saving = True
        try:
            result = await database_sync_to_async(services.session_save, thread_sensitive=False)(
                session_id=self.row.pk, user=self.user, recording=self.recording)
        except UploadRejected as exc:
            return await self.send_json({"type": "error", "code": exc.code, "message": exc.message})
        except Exception:  # noqa: BLE001 - logged; the session goes on
            logger.exception("live session %s: save failed", self.row.pk)
            return await self.send_json({"type": "error", "code": "save_failed",
                                         "message": "The session could not be saved. Please try again."})
        finally:
            self.saving = False
        media = result.media
        await self.send_json({"type": "saved", "media": media.pk, "url": reverse("detection:result", args=[media.pk]),
                              "seconds": round(media.duration or 0, 1), "created": result.created})

    # --- the clock -------------------------------------------------------------------------------
    async def watch(self) -> None:
        """Ends the session at LIVE_MAX_SECONDS (then closes after a grace period for saving), gives up on
        answers that never came, and stamps the session row so it keeps counting as open."""
        try:
            while True:
                await asyncio.sleep(WATCH_SECONDS)
                now = time.monotonic()
                elapsed = now - self.started
                if not self.ended and elapsed >= settings.LIVE_MAX_SECONDS:
                    self.ended = True
                    grace = settings.LIVE_SAVE_GRACE_SECONDS
                    await self.send_json({"type": "ended", "reason": "time_up",
                                          "message": f"The live check stops after {settings.LIVE_MAX_SECONDS} s. "
                                                     f"You can still save it for {grace} s."})
                if self.ended and elapsed >= settings.LIVE_MAX_SECONDS + settings.LIVE_SAVE_GRACE_SECONDS \
                        and not self.saving:
                    await self.refuse(protocol.Refusal("time_up"))
                    return
                for seq, received in list(self.in_flight.items()):
                    if now - received > ANSWER_TIMEOUT:
                        del self.in_flight[seq]
                        await self.drop(seq, "lost")
                        await self.score_next()
                if now - self.touched >= services.HEARTBEAT_SECONDS:
                    self.touched = now
                    await database_sync_to_async(services.session_touch)(session_id=self.row.pk, **self.counts)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the watchdog must not die silently
            logger.exception("live session %s: watchdog failed", self.row.pk)
            await self.refuse(protocol.Refusal("internal_error"))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
