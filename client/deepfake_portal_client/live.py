"""Stream a local video to the portal's live check over a WebSocket, as a camera would, and collect the answers.

    summary = asyncio.run(stream_video("http://127.0.0.1:8000", token, "call.mp4", seconds=20))
    print(summary.running, summary.verdict, summary.p95_ms)

The protocol (docs/live.md): connect to ``ws(s)://HOST/ws/live/`` with ``Authorization: Bearer
TOKEN``; the server says "ready" with its limits; each binary message is one JPEG frame, answered once
("score" or "dropped") with the frame's number; {"type": "save"} makes the frames so far an ordinary
upload ("saved" with its URL); {"type": "stop"} ends the session.

The video is played in real time by ffmpeg (``-re``, which must be on PATH) and the latest picture is sent
whenever the server's ``in_flight`` allows, so the frame rate follows how fast answers come back, as on the
live page. Needs the ``websockets`` package: ``pip install './client[live]'``.
"""
from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from dataclasses import dataclass, field

EOI = b"\xff\xd9"  # a JPEG's end marker: ffmpeg's MJPEG frames are split on it


class LiveError(Exception):
    """The server refused or closed the session: ``code`` is its error key (or the close code)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


@dataclass
class LiveSummary:
    sent: int = 0
    scored: int = 0
    faces: int = 0
    dropped: dict = field(default_factory=dict)  # reason -> count
    latencies_ms: list = field(default_factory=list)  # frame sent -> its score arrived
    scores: list = field(default_factory=list)  # (session time, frame score or None, running score)
    running: float | None = None
    verdict: dict | None = None
    saved_url: str | None = None
    save_error: str | None = None
    seconds: float = 0.0  # from the first frame sent to the last answer

    @property
    def scored_per_second(self) -> float:
        return self.scored / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))]

    @property
    def p50_ms(self) -> float | None:
        return self.percentile_ms(50)

    @property
    def p95_ms(self) -> float | None:
        return self.percentile_ms(95)


def socket_url(base_url: str) -> str:
    parts = urllib.parse.urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urllib.parse.urlunsplit((scheme, parts.netloc, "/ws/live/", "", ""))


class _Camera:
    """ffmpeg playing ``path`` in real time; ``latest`` is the newest picture as JPEG bytes."""

    def __init__(self, path: str, *, side: int, rate: float, loop: bool):
        self.args = ["ffmpeg", "-nostdin", "-v", "error", "-re", *(["-stream_loop", "-1"] if loop else []),
                     "-i", path, "-an", "-vf",
                     f"fps={rate},scale='min(iw,{side})':'min(ih,{side})':force_original_aspect_ratio=decrease"
                     ":force_divisible_by=2",
                     "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "3", "-"]
        self.latest: bytes | None = None
        self.number = 0  # pictures so far (a sender sends each at most once)
        self.ended = asyncio.Event()
        self.fresh = asyncio.Event()

    async def run(self) -> None:
        process = await asyncio.create_subprocess_exec(*self.args, stdout=asyncio.subprocess.PIPE)
        buffer = b""
        try:
            while chunk := await process.stdout.read(65536):
                buffer += chunk
                while (end := buffer.find(EOI)) >= 0:
                    self.latest, buffer = buffer[:end + 2], buffer[end + 2:]
                    self.number += 1
                    self.fresh.set()
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
            self.ended.set()
            self.fresh.set()


async def stream_video(base_url: str, token: str, path: str, *, seconds: float | None = None, loop: bool = False,
                       fps: float = 5.0, side: int = 480, save: bool = False, on_answer=None,
                       open_timeout: float = 30.0) -> LiveSummary:
    """Stream ``path`` (looping with ``loop``) for ``seconds`` at most, or to its end; ``on_answer`` is
    called with every message the server sends. ``save``: save the session at the end."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    summary = LiveSummary()
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(socket_url(base_url), additional_headers=headers, open_timeout=open_timeout,
                       max_size=2 ** 22) as socket:
        ready = json.loads(await socket.recv())
        if ready.get("type") != "ready":
            raise LiveError(ready.get("code", "refused"), ready.get("message", "the server refused the session"))
        limits = ready["limits"]
        rate = min(fps, float(limits["max_fps"]))
        camera = _Camera(path, side=side, rate=max(rate, 10.0), loop=loop)
        sent_at: dict[int, float] = {}
        answered = asyncio.Event()
        done = asyncio.Event()
        saved = asyncio.Event()
        started = [0.0]
        saving = [False]

        async def receive() -> None:
            try:
                async for raw in socket:
                    message = json.loads(raw)
                    kind = message.get("type")
                    if kind in ("score", "dropped"):
                        sent = sent_at.pop(message["seq"], None)
                        if kind == "score":
                            summary.scored += 1
                            summary.faces += message["status"] == "ok"
                            if sent is not None:
                                summary.latencies_ms.append((time.perf_counter() - sent) * 1000)
                            summary.running, summary.verdict = message.get("running"), message.get("verdict")
                            summary.scores.append((message["t"], message.get("score"), message.get("running")))
                        else:
                            summary.dropped[message["reason"]] = summary.dropped.get(message["reason"], 0) + 1
                        summary.seconds = time.perf_counter() - started[0]
                        answered.set()
                    elif kind == "saved":
                        summary.saved_url = urllib.parse.urljoin(base_url, message["url"])
                        saved.set()
                    elif kind == "error" and saving[0]:  # the save was refused (e.g. the hourly upload limit)
                        summary.save_error = message.get("message", "")
                        saved.set()
                    if on_answer is not None:
                        on_answer(message)
            except ConnectionClosed:
                pass
            finally:
                done.set()
                saved.set()
                answered.set()

        async def send() -> None:
            last_number, last_sent = 0, 0.0
            deadline = None
            while not camera.ended.is_set() and not done.is_set():
                if deadline is not None and time.perf_counter() >= deadline:
                    break
                wait = 1.0 / rate - (time.perf_counter() - last_sent)
                if len(sent_at) >= int(limits["in_flight"]) or camera.number == last_number or wait > 0:
                    answered.clear()
                    camera.fresh.clear()
                    waits = [asyncio.ensure_future(answered.wait()), asyncio.ensure_future(camera.fresh.wait())]
                    await asyncio.wait(waits, timeout=max(wait, 0.005), return_when=asyncio.FIRST_COMPLETED)
                    for task in waits:
                        task.cancel()
                    continue
                if deadline is None:
                    started[0] = time.perf_counter()
                    deadline = started[0] + seconds if seconds else None
                last_number, last_sent = camera.number, time.perf_counter()
                summary.sent += 1
                sent_at[summary.sent] = last_sent
                await socket.send(camera.latest)
            # The last answers.
            end = time.perf_counter() + 10
            while sent_at and not done.is_set() and time.perf_counter() < end:
                answered.clear()
                try:
                    await asyncio.wait_for(answered.wait(), timeout=max(0.01, end - time.perf_counter()))
                except asyncio.TimeoutError:
                    break

        receiver = asyncio.ensure_future(receive())
        player = asyncio.ensure_future(camera.run())
        try:
            await send()
            if save and not done.is_set():
                saving[0] = True
                await socket.send(json.dumps({"type": "save"}))
                await asyncio.wait_for(saved.wait(), timeout=600)
            if not done.is_set():
                await socket.send(json.dumps({"type": "stop"}))
            await asyncio.wait_for(receiver, timeout=30)
        finally:
            player.cancel()
            receiver.cancel()
            await asyncio.gather(player, receiver, return_exceptions=True)  # ffmpeg is stopped and reaped here
        if socket.close_code not in (None, 1000) and socket.close_reason not in ("", "stopped"):
            raise LiveError(socket.close_reason or str(socket.close_code), f"closed with {socket.close_code}")
    return summary
