"""The live socket's protocol: what a client may send, and the close code and words for each refusal.

Client to server: binary messages are frames (one JPEG each; the server numbers them 1, 2, 3, ... in
arrival order, and every frame gets exactly one answer, "score" or "dropped", carrying that number);
text messages are JSON control messages: {"type": "save"} or {"type": "stop"}.
Server to client: JSON text messages, "ready", "score", "dropped", "saved", "ended", "error"
(docs/live.md documents each field). A message that breaks these rules closes the socket with
one of the codes below and its key as the close reason, after an "error" message that says why.
"""
from __future__ import annotations

import io
import json

from PIL import Image, UnidentifiedImageError

JPEG_MAGIC = b"\xff\xd8\xff"
MAX_CONTROL_BYTES = 1024
CONTROL_TYPES = {"save", "stop"}

# Close codes (4000-4999 are the application's own; the second part mirrors the HTTP status).
CLOSE_NORMAL = 1000
CLOSE_SERVER_ERROR = 1011
CLOSE_BAD_MESSAGE = 4400
CLOSE_BUSY = 4409
CLOSE_TIME_UP = 4408
CLOSE_TOO_LARGE = 4413

# key -> (close code, words for people)
REFUSALS = {
    "bad_json": (CLOSE_BAD_MESSAGE, "A text message must be a JSON object such as {\"type\": \"save\"}."),
    "unknown_type": (CLOSE_BAD_MESSAGE, "Unknown message type: text messages are {\"type\": \"save\"} or "
                                        "{\"type\": \"stop\"}, frames are binary JPEG images."),
    "not_jpeg": (CLOSE_BAD_MESSAGE, "Frames must be JPEG images sent as binary messages."),
    "bad_frame": (CLOSE_BAD_MESSAGE, "A frame could not be decoded as a JPEG image."),
    "message_too_large": (CLOSE_TOO_LARGE, f"Text messages are at most {MAX_CONTROL_BYTES} bytes."),
    "frame_too_large": (CLOSE_TOO_LARGE, "The frame is larger than the limit."),
    "busy": (CLOSE_BUSY, "You already have a live check open (in another tab or program). Close it first."),
    "time_up": (CLOSE_TIME_UP, "The live check reached its maximum length."),
    "internal_error": (CLOSE_SERVER_ERROR, "Something went wrong on our side. Please start again."),
}


class Refusal(Exception):
    """A message the socket will not take: ``key`` names the close code and the words (REFUSALS)."""

    def __init__(self, key: str, detail: str = ""):
        super().__init__(key)
        self.key = key
        self.close_code, words = REFUSALS[key]
        self.message = detail or words


def parse_control(text: str) -> dict:
    """A control message as a dict with a known "type", or a Refusal."""
    if len(text.encode()) > MAX_CONTROL_BYTES:
        raise Refusal("message_too_large")
    try:
        message = json.loads(text)
    except ValueError:
        raise Refusal("bad_json") from None
    if not isinstance(message, dict):
        raise Refusal("bad_json")
    if message.get("type") not in CONTROL_TYPES:
        raise Refusal("unknown_type")
    return message


def frame_size(data: bytes, *, max_bytes: int, max_side: int) -> tuple[int, int]:
    """(width, height) of a frame from its JPEG header alone (no decoding), or a Refusal."""
    if len(data) > max_bytes:
        raise Refusal("frame_too_large", f"A frame is at most {max_bytes // 1024} KB; this one is "
                                         f"{len(data) // 1024} KB.")
    if not data.startswith(JPEG_MAGIC):
        raise Refusal("not_jpeg")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "JPEG":
                raise Refusal("not_jpeg")
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise Refusal("bad_frame") from None
    if max(width, height) > max_side:
        raise Refusal("frame_too_large", f"A frame is at most {max_side} pixels a side; this one is "
                                         f"{width} x {height}.")
    if min(width, height) < 1:
        raise Refusal("bad_frame")
    return width, height
