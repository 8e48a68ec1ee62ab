"""Small test clips made from real faces in the shared data folder (never copied into the repo).

Tests that need the data fail, not skip, when it is missing: a skipped test must never pass as green.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("DEEPFAKE_DATA", REPO.parent / "shared" / "data"))

# Two different people, both frontal talking heads.
FACE_CLIP_A = "KwaiVGI_LivePortrait/assets/examples/source/s18.mp4"  # 1280x720
FACE_CLIP_B = "OpenTalker_SadTalker/examples/ref_video/WDA_KatieHill_000.mp4"  # 512x512


def shared_file(relative: str) -> Path:
    path = DATA / "train" / relative
    if not path.exists():
        pytest.fail(f"test data missing: {path} (set DEEPFAKE_DATA to the shared data folder)")
    return path


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=120,
                   stdin=subprocess.DEVNULL)


def face_clip(out: Path, *, seconds: float = 3, width: int = 640, source: str = FACE_CLIP_A,
              extra: tuple[str, ...] = ()) -> Path:
    """A short H.264 clip of a real face, scaled to ``width`` (height keeps the aspect)."""
    ffmpeg("-i", str(shared_file(source)), "-t", str(seconds), "-an", "-vf", f"scale={width}:-2",
           "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", *extra, str(out))
    return out


def no_face_clip(out: Path, seconds: float = 2) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25", "-t", str(seconds), "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(out))
    return out


def face_image(out: Path) -> Path:
    """One frame of a face clip as a JPEG."""
    ffmpeg("-ss", "1", "-i", str(shared_file(FACE_CLIP_A)), "-frames:v", "1", "-vf", "scale=640:-2", str(out))
    return out
