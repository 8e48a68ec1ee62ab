"""A copy every browser plays: the worker writes an H.264/AAC MP4 preview of a video browsers cannot play
(MPEG-4 Part 2, MPEG-1/2, HEVC, WMV, FLV, Theora, ...). It is stored with the job's other private files and
served through the same owner (or moderator) checks as the original."""
from __future__ import annotations

import logging
import os
import shutil
import subprocess

import av
from django.conf import settings

logger = logging.getLogger(__name__)

NATIVE = "native"  # the original plays in browsers
PREVIEW = "preview"  # a preview was written
NONE = "none"  # neither the original nor a preview plays: the page says so and shows the analysed frames

# What browsers play, by the container family ml.media.decode.sniff names (mp4 also covers mov, m4v, 3gp;
# mkv also covers webm). None: no audio track.
BROWSER_CODECS = {
    "mp4": ({"h264", "av1", "vp9"}, {None, "aac", "mp3"}),
    "mkv": ({"vp8", "vp9", "av1"}, {None, "opus", "vorbis"}),
}


def codecs_of(path: str) -> tuple[str | None, str | None]:
    """(video codec, audio codec) of the first streams, by FFmpeg's short names."""
    with av.open(path) as container:
        video = container.streams.video[0].codec_context.name if container.streams.video else None
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
    return video, audio


def browser_plays(path: str, fmt: str) -> bool:
    try:
        video, audio = codecs_of(path)
    except (av.error.FFmpegError, IndexError, OSError):
        return False
    videos, audios = BROWSER_CODECS.get(fmt, (set(), set()))
    return video in videos and audio in audios


def preview_write(source: str, target: str) -> bool:
    """Transcode to H.264 (yuv420p, at most 1280 px wide) and AAC in an MP4 that starts playing at once."""
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        logger.warning("no ffmpeg on this worker: no preview for %s", source)
        return False
    command = [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", source,
        "-map", "0:v:0", "-map", "0:a:0?", "-sn", "-dn",
        "-vf", "scale='trunc(min(1280,iw)/2)*2':-2,format=yuv420p",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-threads", str(settings.PREVIEW_THREADS),
        "-c:a", "aac", "-b:a", "96k", "-ac", "2", "-movflags", "+faststart", "-f", "mp4", target,
    ]
    try:
        done = subprocess.run(command, capture_output=True, timeout=settings.PREVIEW_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        logger.warning("preview of %s: ffmpeg took over %ss", source, settings.PREVIEW_TIMEOUT_SECONDS)
        return False
    if done.returncode != 0 or not os.path.exists(target) or os.path.getsize(target) == 0:
        logger.warning("preview of %s failed: %s", source, done.stderr.decode(errors="replace")[-500:])
        return False
    return True


def preview_prepare(source: str, *, kind: str, fmt: str, work_dir: str) -> tuple[str, str | None]:
    """(playback, local preview path or None) for one upload; images need none."""
    if kind != "video":
        return "", None
    if browser_plays(source, fmt):
        return NATIVE, None
    target = os.path.join(work_dir, "preview.mp4")
    if preview_write(source, target) and browser_plays(target, "mp4"):
        return PREVIEW, target
    return NONE, None
