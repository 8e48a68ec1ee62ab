"""Audio in: any supported audio file, or a video's sound track, as 16 kHz mono float32.

The type is decided from the content (magic bytes, then it must decode through PyAV/FFmpeg), never from
the name. Limits on size and length raise ``MediaError`` with stable codes (``ml.errors``), as do a file
without sound (``no_audio``), an undecodable sound track (``audio_unreadable``) and one that ends well
before its header says (``audio_truncated``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import av
import numpy as np

from ml import errors
from ml.errors import MediaError
from ml.media import decode as media
from ml.media.audio import sniff_audio

SR = 16000
# What each container's magic bytes say; the streams inside decide whether it is audio or a video.
AUDIO_FORMATS = ("wav", "flac", "ogg", "mp3", "aac")
VIDEO_FORMATS = ("mp4", "mkv", "avi")


@dataclass(frozen=True)
class AudioLimits:
    max_bytes: int = 200 * 1024 * 1024
    max_seconds: float = 600.0


@dataclass
class AudioClip:
    samples: np.ndarray  # float32, 16 kHz mono
    format: str  # the container from the magic bytes: wav, flac, ogg, mp3, aac, mp4, mkv, avi
    source: str  # "audio" (a sound file or an audio-only container) or "video" (a video's sound track)
    input_rate: int  # the sound track's own sample rate (8,000 for telephone audio)
    channels: int
    codec: str

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SR


def sniff(head: bytes) -> str | None:
    """The container format from a file's first bytes, or None when it is nothing we accept: an audio
    format (``ml.media.audio.sniff_audio``) or a video container that may carry sound (``ml.media.decode.sniff``;
    mp4 also covers m4a and mov, mkv also webm)."""
    fmt = sniff_audio(head)
    if fmt is None:
        found = media.sniff(head)
        fmt = found[1] if found is not None and found[1] in VIDEO_FORMATS else None
    return fmt


def is_audio_file(path: str | os.PathLike) -> bool:
    """True for a sound file (or an audio-only mp4/mkv such as m4a), false for videos, images and the rest."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    fmt = sniff(head)
    if fmt in AUDIO_FORMATS:
        return True
    if fmt in ("mp4", "mkv"):
        if head[8:11] in (b"M4A", b"M4B"):
            return True
        try:
            with av.open(str(path)) as container:
                return bool(container.streams.audio) and not any(s.frames != 1 for s in container.streams.video)
        except (av.FFmpegError, UnicodeDecodeError, ValueError):
            return False
    return False


def _describe(head: bytes) -> str:
    for magic, what in ((b"\xff\xd8\xff", "a JPEG image"), (b"\x89PNG", "a PNG image"), (b"%PDF", "a PDF document"),
                        (b"PK\x03\x04", "a ZIP archive"), (b"GIF8", "a GIF image")):
        if head.startswith(magic):
            return what
    return "something else"


def _limits(limits) -> AudioLimits:
    if limits is None:
        return AudioLimits()
    return AudioLimits(int(getattr(limits, "max_bytes", AudioLimits.max_bytes)),
                       float(getattr(limits, "max_seconds", AudioLimits.max_seconds)))


def load_audio(path: str | os.PathLike, limits=None) -> AudioClip:
    """Decode ``path``'s first sound track to 16 kHz mono float32, within ``limits`` (any object with
    ``max_bytes`` and ``max_seconds``, e.g. ``ml.media.decode.Limits``)."""
    lim = _limits(limits)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise MediaError(errors.CORRUPT_MEDIA, f"The file could not be read ({exc.strerror}).") from exc
    if size == 0:
        raise MediaError(errors.EMPTY_FILE, "The file is empty.")
    if size > lim.max_bytes:
        raise MediaError(errors.TOO_LARGE, f"The file is larger than {lim.max_bytes // (1024 * 1024)} MB.")
    fmt = sniff(head)
    if fmt is None:
        raise MediaError(errors.UNSUPPORTED_TYPE, f"The file holds {_describe(head)}, not audio "
                         "(wav, mp3, m4a/aac, ogg/opus, flac) or a video with sound.")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(errors.AUDIO_UNREADABLE, "The file looks like audio but cannot be opened; it may be "
                         "damaged or incomplete.") from exc
    with container:
        return _decode(container, fmt, lim)


def _decode(container, fmt: str, lim: AudioLimits) -> AudioClip:
    if not container.streams.audio:
        raise MediaError(errors.NO_AUDIO, "The file has no sound track.")
    stream = container.streams.audio[0]
    source = "video" if any(s.frames != 1 for s in container.streams.video) else "audio"
    declared = _declared_seconds(container, stream)
    if fmt == "wav":
        declared = _wav_declared_seconds(container.name, stream.rate, stream.channels) or declared
    if declared is not None and declared > lim.max_seconds:
        raise MediaError(errors.TOO_LONG, f"The sound is longer than {lim.max_seconds / 60:g} minutes.")
    rate, channels, codec = stream.rate or 0, stream.channels or 0, stream.codec_context.name
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SR)
    chunks, total, failed = [], 0, None
    max_samples = int(lim.max_seconds * SR) + SR
    try:
        for frame in container.decode(stream):
            frame.pts = None  # resample by sample count; damaged timestamps must not insert gaps
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
                total += chunks[-1].size
            if total > max_samples:
                raise MediaError(errors.TOO_LONG, f"The sound is longer than {lim.max_seconds / 60:g} minutes.")
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    except av.FFmpegError as exc:
        failed = exc
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    got = samples.size / SR
    if got == 0:
        raise MediaError(errors.AUDIO_UNREADABLE, "The sound track cannot be decoded; it may be damaged.") from failed
    if declared is not None and declared >= 1.0 and got < 0.9 * declared - 0.2 and source == "audio":
        raise MediaError(errors.AUDIO_TRUNCATED, f"The file ends after {got:.1f} s of the {declared:.1f} s its "
                         "header announces; it was probably cut off while uploading or copying.")
    if failed is not None and got < 1.0:
        raise MediaError(errors.AUDIO_UNREADABLE, "The sound track cannot be decoded; it may be damaged.") from failed
    samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    return AudioClip(np.clip(samples, -1.0, 1.0), fmt, source, int(rate), int(channels), codec or "")


def _declared_seconds(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _wav_declared_seconds(path: str, rate: int, channels: int) -> float | None:
    """What a WAV header's data chunk announces (FFmpeg estimates a cut-off WAV's length from its size)."""
    block_align = 0
    try:
        with open(path, "rb") as fh:
            fh.seek(12)
            while True:
                header = fh.read(8)
                if len(header) < 8:
                    return None
                chunk, size = header[:4], int.from_bytes(header[4:], "little")
                if chunk == b"fmt ":
                    fmt_chunk = fh.read(size + (size & 1))
                    block_align = int.from_bytes(fmt_chunk[12:14], "little")
                    continue
                if chunk == b"data":
                    if size in (0, 0xFFFFFFFF) or not rate or not block_align:  # streamed WAVs leave it open
                        return None
                    return size / block_align / rate
                fh.seek(size + (size & 1), 1)
    except (OSError, ValueError):
        return None
