"""A live session's frames, kept in a private temporary folder until the socket closes, and the video
they make when the user saves the session.

Frames arrive at an uneven rate and may differ in size (the page sends the region around the face once it
knows where the face is), so the video has a constant frame rate, each frame held until the next one
arrived, every frame fitted into one picture size with black borders. That keeps the video's clock the
session's clock: a face at 0:12 in the saved result is the face the page showed at 0:12.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from fractions import Fraction

import av
import cv2
import numpy as np

VIDEO_SIDE = 640  # the saved video's long side at most (even sizes, as H.264 wants)


class Recording:
    def __init__(self, *, max_bytes: int, parent: str | None = None):
        self.max_bytes = max_bytes
        self.parent = parent  # where the session's folder is made (None: the system's temporary folder)
        self.frames: list[tuple[float, str]] = []  # (session time, JPEG path), in time order
        self.bytes = 0
        self.full = False  # over max_bytes: later frames are not kept (a save keeps the start)
        self.directory: str | None = None

    def add(self, t: float, jpeg: bytes) -> bool:
        """Keep a frame received at session time ``t``; False once the recording is full."""
        if self.bytes + len(jpeg) > self.max_bytes:
            self.full = True
            return False
        if self.directory is None:
            # mode 0700: only the server's own user can read it
            self.directory = tempfile.mkdtemp(prefix="live-session-", dir=self.parent)
        path = os.path.join(self.directory, f"{len(self.frames):06d}.jpg")
        with open(path, "wb") as fh:
            fh.write(jpeg)
        self.frames.append((t, path))
        self.bytes += len(jpeg)
        return True

    @property
    def seconds(self) -> float:
        return self.frames[-1][0] - self.frames[0][0] if self.frames else 0.0

    def write_video(self, path: str, *, fps: int) -> int:
        """An H.264 MP4 at ``fps`` of the frames so far (those that decode); returns its frame count."""
        frames = list(self.frames)  # frames keep arriving while a save runs: take the ones there now
        pictures = ((t, cv2.imread(p)) for t, p in frames)
        pictures = [(t, image) for t, image in pictures if image is not None]
        if not pictures:
            raise ValueError("no frame to save")
        width, height = _video_size(pictures[0][1])
        start = pictures[0][0]
        written = 0
        with av.open(path, "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": "23", "preset": "veryfast"}
            ticks = int((pictures[-1][0] - start) * fps) + 1
            current, canvas = 0, _fit(pictures[0][1], width, height)
            for tick in range(ticks):
                t = start + tick / fps
                if current + 1 < len(pictures) and pictures[current + 1][0] <= t:
                    while current + 1 < len(pictures) and pictures[current + 1][0] <= t:
                        current += 1
                    canvas = _fit(pictures[current][1], width, height)
                frame = av.VideoFrame.from_ndarray(canvas, format="bgr24")
                frame.pts, frame.time_base = tick, Fraction(1, fps)
                container.mux(stream.encode(frame))
                written += 1
            container.mux(stream.encode(None))
        return written

    def discard(self) -> None:
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
        self.directory, self.frames, self.bytes = None, [], 0


def _video_size(first: np.ndarray) -> tuple[int, int]:
    h, w = first.shape[:2]
    scale = min(1.0, VIDEO_SIDE / max(h, w))
    return max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2)


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled to fit width x height, centred on black."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.zeros((height, width, 3), np.uint8)
    x, y = (width - size[0]) // 2, (height - size[1]) // 2
    canvas[y:y + size[1], x:x + size[0]] = small
    return canvas
