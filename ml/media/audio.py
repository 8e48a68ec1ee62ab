"""Audio files: tell an audio file from its first bytes, probe it (it must decode) and read its samples.

Accepted: WAV, MP3, M4A/AAC (MP4 audio or raw ADTS), Ogg (Opus, Vorbis, FLAC in Ogg) and FLAC. As for
video, the kind is decided from the content, never from the name, and a file must decode to count.
"""
from __future__ import annotations

import av
import numpy as np

from ml import errors
from ml.errors import MediaError

AUDIO_FORMATS = ("wav", "mp3", "m4a", "aac", "ogg", "flac")
AUDIO_TYPES_WORDS = "wav, mp3, m4a, aac, ogg, opus, flac"
PROBE_DECODE_SECONDS = 2.0  # this much must decode for the file to count as audio


def sniff_audio(head: bytes) -> str | None:
    """The audio format from a file's first bytes (at least 12), or None. MP4 (m4a) is told by its streams."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"ID3"):
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        layer = (head[1] >> 1) & 0x03
        if layer == 0 and (head[1] & 0xF0) == 0xF0:
            return "aac"  # ADTS: MPEG sync word with layer 00
        if layer != 0 and (head[1] >> 3) & 0x03 != 0x01:  # a valid MPEG version, layer I-III
            return "mp3"
    return None


def audio_streams(path: str) -> tuple[int, int]:
    """(video streams, audio streams) in a container; (0, 0) when it cannot be opened."""
    try:
        with av.open(path) as container:
            return len(container.streams.video), len(container.streams.audio)
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError):
        return 0, 0


def audio_seconds(path: str) -> float:
    """How long an audio file's sound lasts, once its first seconds decode; MediaError (corrupt_media) otherwise."""
    try:
        with av.open(path) as container:
            if not container.streams.audio:
                raise MediaError(errors.CORRUPT_MEDIA, "The file has no sound that can be read.")
            stream = container.streams.audio[0]
            duration = _duration(container, stream)
            decoded = 0.0
            for frame in container.decode(stream):
                decoded += frame.samples / float(frame.sample_rate or 1)
                if decoded >= PROBE_DECODE_SECONDS:
                    break
    except MediaError:
        raise
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(errors.CORRUPT_MEDIA, "The audio is damaged or incomplete and cannot be read.") from exc
    if decoded <= 0.0:
        raise MediaError(errors.CORRUPT_MEDIA, "The audio has no sound that can be decoded.")
    return max(duration, decoded)


def _duration(container, stream) -> float:
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def read_audio(path: str, sample_rate: int = 16000, max_seconds: float = 900.0) -> np.ndarray:
    """The first audio stream of a file (audio or video) as mono float32 at ``sample_rate``; empty if it has none.

    Raises MediaError (corrupt_media) when the stream cannot be decoded at all; a file cut short gives
    what decodes before the cut.
    """
    chunks: list[np.ndarray] = []
    total = 0
    limit = int(max_seconds * sample_rate)
    try:
        with av.open(path) as container:
            if not container.streams.audio:
                return np.zeros(0, dtype=np.float32)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            try:
                for frame in container.decode(container.streams.audio[0]):
                    for out in resampler.resample(frame):
                        chunk = out.to_ndarray().reshape(-1)
                        chunks.append(chunk)
                        total += chunk.size
                    if total >= limit:
                        break
            except av.error.FFmpegError:
                if not chunks:
                    raise  # nothing decodes; a file cut short keeps what came before the cut
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(errors.CORRUPT_MEDIA, "The audio is damaged and could not be decoded.") from exc
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks)[:limit].astype(np.float32, copy=False)
