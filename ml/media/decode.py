"""Probe a media file and sample frames from it.

The kind of a file is decided from its content (magic bytes, then it must decode), never from its
name. Videos are sampled at N evenly spaced instants; an image is one frame.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import av
import cv2
import numpy as np
from PIL import Image, ImageOps

from ml import errors
from ml.errors import MediaError
from ml.media import audio, seek

# Decompression bombs are refused by our own pixel limit, not PIL's warning.
Image.MAX_IMAGE_PIXELS = None

IMAGE_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}

# The one list of what is accepted (pages, forms, API docs and file serving all read it from here). The
# type is decided from the content (``sniff``), never the name; the names below are what people know.
# Any codec FFmpeg decodes inside these containers is accepted: H.264, HEVC, VP8/9, AV1, MPEG-4 Part 2,
# MPEG-1/2, H.263, WMV, Theora, ...
VIDEO_NAMES = ("mp4", "mov", "m4v", "3gp", "webm", "mkv", "avi", "mpg", "ts", "flv", "wmv", "ogv")
IMAGE_NAMES = ("jpg", "png", "webp")
# Audio (ml.media.audio tells them apart): the voice detector alone runs on these.
AUDIO_NAMES = ("wav", "mp3", "m4a", "aac", "ogg", "opus", "flac")
# Stored format (what ``sniff`` says; one name per container family) -> the content type it is served as.
CONTENT_TYPES = {
    "jpg": "image/jpeg", "png": "image/png", "webp": "image/webp",
    "mp4": "video/mp4",  # also mov, m4v, 3gp (ISO base media: "ftyp")
    "mkv": "video/x-matroska",  # also webm
    "avi": "video/x-msvideo", "mpg": "video/mpeg", "ts": "video/mp2t", "flv": "video/x-flv",
    "wmv": "video/x-ms-asf", "ogv": "video/ogg",
    # audio (ml.media.audio): ogg also holds Opus; mka is Matroska/WebM holding only sound
    "wav": "audio/wav", "mp3": "audio/mpeg", "m4a": "audio/mp4", "aac": "audio/aac", "ogg": "audio/ogg",
    "flac": "audio/flac", "mka": "audio/webm",
}
VIDEO_CONTAINERS = tuple(f for f, t in CONTENT_TYPES.items() if t.startswith("video/"))
VIDEO_CODECS = "H.264, HEVC, VP8/VP9, AV1, MPEG-4 Part 2, MPEG-1/2 and the rest FFmpeg decodes"
SNIFF_BYTES = 512  # enough for an MPEG transport stream's second sync byte (188 bytes apart)


ACCEPTED_WORDS = (f"video ({', '.join(VIDEO_NAMES)}), image ({', '.join(IMAGE_NAMES)}) "
                  f"or audio file ({', '.join(AUDIO_NAMES)})")
UNSUPPORTED_MESSAGE = f"This is not a supported {ACCEPTED_WORDS}."
UNSUPPORTED_WORDS = UNSUPPORTED_MESSAGE  # audio-portal's name for it


@dataclass(frozen=True)
class MediaInfo:
    kind: str  # "video" | "image" | "audio"
    format: str  # a key of CONTENT_TYPES: jpg, png, webp, mp4 (also mov, m4v, 3gp), mkv (also webm), avi, ...; wav, mp3, m4a, aac, ogg, flac, mka
    width: int
    height: int
    duration: float  # seconds, 0 for images
    fps: float  # 0 for images and audio
    frame_count: int  # 1 for images, 0 for audio


@dataclass
class Frame:
    index: int
    time: float
    image: np.ndarray  # H x W x 3, RGB, uint8


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 200 * 1024 * 1024
    max_seconds: float = 600.0
    max_side: int = 8000
    max_pixels: int = 50_000_000  # per picture or frame: 8,000 x 8,000 would decode to 192 MB


def sniff(head: bytes) -> tuple[str, str] | None:
    """(kind, format) from a file's first bytes, or None if it is no type we accept."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video", "avi"
    if head[4:8] == b"ftyp":
        return "video", "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", "mkv"
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):  # MPEG program stream / MPEG-1/2 video
        return "video", "mpg"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:  # MPEG transport stream sync bytes
        return "video", "ts"
    if head.startswith(b"FLV\x01"):
        return "video", "flv"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):  # ASF (wmv)
        return "video", "wmv"
    if head.startswith(b"OggS"):
        return "video", "ogv"
    return None


def read_head(path: str, max_bytes: int, n: int = SNIFF_BYTES) -> bytes:
    """A file's first ``n`` bytes, once it is readable, not empty and at most ``max_bytes`` long
    (MediaError: corrupt_media, empty_file, too_large)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(n)
    except OSError as exc:
        raise MediaError(errors.CORRUPT_MEDIA, f"The file could not be read ({exc.strerror}).") from exc
    if size == 0:
        raise MediaError(errors.EMPTY_FILE, "The file is empty.")
    if size > max_bytes:
        raise MediaError(errors.TOO_LARGE, f"The file is larger than {max_bytes // (1024 * 1024)} MB.")
    return head


def probe(path: str, limits: Limits | None = None) -> MediaInfo:
    """Check that ``path`` is a supported image or video that decodes and fits the limits."""
    limits = limits or Limits()
    head = read_head(path, limits.max_bytes)
    sniffed = sniff(head)
    if sniffed is None and audio.sniff_audio(head) is not None:
        sniffed = ("audio", audio.sniff_audio(head))
    if sniffed is None:
        raise MediaError(errors.UNSUPPORTED_TYPE, UNSUPPORTED_MESSAGE)
    kind, fmt = sniffed
    if kind == "video" and fmt in ("mp4", "mkv", "ogv"):
        video_streams, audio_streams = audio.audio_streams(path)
        if video_streams == 0 and audio_streams > 0:  # m4a, Matroska/WebM or Ogg (Opus, Vorbis) holding only sound
            kind, fmt = "audio", {"mp4": "m4a", "mkv": "mka", "ogv": "ogg"}[fmt]
    if kind == "audio":
        info = MediaInfo("audio", fmt, 0, 0, audio.audio_seconds(path), 0.0, 0)
    else:
        info = _probe_image(path, fmt) if kind == "image" else _probe_video(path, fmt)
    if max(info.width, info.height) > limits.max_side:
        raise MediaError(errors.TOO_LARGE, f"The picture is larger than {limits.max_side} pixels on a side.")
    if info.width * info.height > limits.max_pixels:
        raise MediaError(errors.TOO_LARGE, f"The picture has more than {limits.max_pixels / 1e6:g} million pixels.")
    if info.duration > limits.max_seconds:
        raise MediaError(errors.TOO_LONG, f"The {info.kind} is longer than {limits.max_seconds / 60:g} minutes.")
    return info


def _probe_image(path: str, fmt: str) -> MediaInfo:
    try:
        with Image.open(path) as img:
            if img.format not in IMAGE_FORMATS:
                raise MediaError(errors.UNSUPPORTED_TYPE, "This image format is not supported.")
            width, height = img.size
    except MediaError:
        raise
    except Exception as exc:  # PIL raises many types for broken files
        raise MediaError(errors.CORRUPT_MEDIA, "The image is damaged or incomplete and cannot be read.") from exc
    return MediaInfo("image", fmt, width, height, 0.0, 0.0, 1)


def _probe_video(path: str, fmt: str) -> MediaInfo:
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            raise MediaError(errors.CORRUPT_MEDIA, "The video is damaged or incomplete and cannot be read.")
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        ok, frame = cap.read()
        if not ok or frame is None:
            raise MediaError(errors.CORRUPT_MEDIA, "The video has no frame that can be decoded.")
        height, width = frame.shape[:2]  # after rotation metadata is applied
    finally:
        cap.release()
    if not (0.5 <= fps <= 1000.0):
        raise MediaError(errors.CORRUPT_MEDIA, "The video reports an impossible frame rate.")
    count = max(count, 1)
    return MediaInfo("video", fmt, width, height, count / fps, fps, count)


def read_image(path: str) -> np.ndarray:
    """RGB uint8 array with EXIF orientation applied."""
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            return np.asarray(img.convert("RGB"))
    except Exception as exc:
        raise MediaError(errors.CORRUPT_MEDIA, "The image is damaged or incomplete and cannot be read.") from exc


def sample_indices(frame_count: int, n: int) -> list[int]:
    """N frame indices spread evenly over the clip (centres of N equal segments)."""
    if frame_count <= 0:
        return []
    n = min(n, frame_count)
    return sorted({int((i + 0.5) * frame_count / n) for i in range(n)})


SEEK_GAP = 3.0  # seconds: a farther target is reached by seeking to its keyframe, not decoding through


def sample_frames(path: str, n: int = 32, info: MediaInfo | None = None) -> list[Frame]:
    """N frames spread evenly in time over a video (or the one frame of an image), RGB.

    Decodes with FFmpeg's frame threads (PyAV) and converts only the wanted frames to RGB. By default
    every frame is decoded and targets farther than ``SEEK_GAP`` ahead are reached by a keyframe seek;
    with ``DETECTOR_DECODE=fast`` ``ml.media.seek`` reads them (keyframe-aware seeks, non-reference frames
    skipped). A long clip is never decoded whole either way. Targets are times,
    not indices: correct under variable frame rate and lying frame counts. Rotation metadata is applied.
    """
    info = info or probe(path, Limits(max_bytes=1 << 62, max_seconds=1e9, max_side=1 << 30, max_pixels=1 << 62))
    if info.kind == "image":
        return [Frame(0, 0.0, read_image(path))]
    try:
        frames = _decode_fast(path, n, info) if seek.decode_mode() == "fast" else []
        if len(frames) < max(1, min(n, info.frame_count) // 2):  # exact mode, or seeking failed in this file
            frames = _decode_at(path, n, info)
    except av.error.FFmpegError as exc:
        raise MediaError(errors.CORRUPT_MEDIA, "The video is damaged and could not be decoded.") from exc
    if not frames:
        raise MediaError(errors.CORRUPT_MEDIA, "No frame of the video could be decoded.")
    return frames


def _decode_fast(path: str, n: int, info: MediaInfo) -> list[Frame]:
    """``ml.media.seek``'s reader; no frames where its seeks fail (the caller then decodes every frame)."""
    targets = [(i + 0.5) * max(info.duration, 1e-3) / n for i in range(n)]
    try:
        return [Frame(i, t, image) for i, t, image in seek.read_at(path, targets, info.fps, convert=_rgb)]
    except av.error.FFmpegError:
        return []


def _decode_at(path: str, n: int, info: MediaInfo) -> list[Frame]:
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        half_frame = 0.5 / max(info.fps, 1.0)
        targets = [start + (i + 0.5) * max(info.duration, 1e-3) / n for i in range(n)]
        frames: list[Frame] = []
        position, index = start, 0  # index: frames decoded so far; None once a seek made it unknown
        while targets:
            if targets[0] - position > SEEK_GAP:
                container.seek(int(targets[0] / stream.time_base), stream=stream, backward=True)
                index = None
            for frame in container.decode(stream):
                position = float(frame.time) if frame.time is not None else position
                took = position + half_frame >= targets[0]
                if took:
                    frame_index = index if index is not None else round((position - start) * info.fps)
                    frames.append(Frame(frame_index, round(position - start, 3), _rgb(frame)))
                    while targets and targets[0] <= position + half_frame:
                        targets.pop(0)
                if index is not None:
                    index += 1
                # Seek again only after reaching a target: a seek lands on the keyframe before its
                # target, which may itself be far back; decoding on from there is the only way.
                if not targets or (took and targets[0] - position > SEEK_GAP):
                    break
            else:
                break  # end of stream: the container claimed more than it holds
    return frames


def _rgb(frame) -> np.ndarray:
    image = frame.to_ndarray(format="rgb24")
    rotation = int(getattr(frame, "rotation", 0) or 0) % 360
    if rotation:  # FFmpeg's display rotation is counter-clockwise
        image = np.ascontiguousarray(np.rot90(image, k=rotation // 90))
    return image
