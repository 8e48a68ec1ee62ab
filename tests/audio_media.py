"""Sound for the audio tests (issue 29), made on the fly with ffmpeg from the shared data's audio samples.

Real and synthetic speech come from ``$DEEPFAKE_DATA/audio/samples`` (four-second FLAC clips and their
labels.csv); the bad cases (silence, a sine chord, telephone audio, a cut-off file, a two-hour file, a
text file named .mp3, a face video with a synthetic sound track) are made here. Under CI a missing sample
set fails the tests instead of skipping them (``conftest.require``).
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.conftest import ffmpeg, require, shared_data_dir


# Four seconds of nearly continuous speech each (some samples are half silence); any other sample will do.
PREFERRED = {"real": "ground-truth-vctk", "fake": "styletts2"}


def audio_samples() -> tuple[Path, Path]:
    """(a real speech sample, a synthetic one) from the shared samples' labels.csv."""
    root = shared_data_dir() / "audio" / "samples"
    require((root / "labels.csv").is_file(), f"shared audio samples not found at {root}")
    picked: dict[str, Path] = {}
    with open(root / "labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            path = root.parent / row["path"]
            if row["label"] not in PREFERRED or not path.is_file():
                continue
            if row["label"] not in picked or row["method"] == PREFERRED[row["label"]]:
                picked[row["label"]] = path
    if len(picked) < 2:
        pytest.fail(f"{root / 'labels.csv'} lists no real and fake sample that exist")
    return picked["real"], picked["fake"]


@pytest.fixture(scope="session")
def audio_clips(tmp_path_factory) -> dict[str, Path]:
    """Named audio files: real/synthetic speech in every accepted format, and the bad cases."""
    real, fake = audio_samples()
    out = tmp_path_factory.mktemp("audio")
    clips = {"real_flac": real, "synthetic_flac": fake}

    def make(name: str, *args: str) -> None:
        ffmpeg(*args, str(out / name))
        clips[name.replace(".", "_")] = out / name

    make("real.mp3", "-i", str(real), "-c:a", "libmp3lame", "-b:a", "64k")
    make("synthetic.mp3", "-i", str(fake), "-c:a", "libmp3lame", "-b:a", "64k")
    make("real.wav", "-i", str(real), "-c:a", "pcm_s16le")
    make("real.m4a", "-i", str(real), "-c:a", "aac", "-b:a", "64k")
    make("real.aac", "-i", str(real), "-c:a", "aac", "-b:a", "64k", "-f", "adts")
    make("real.opus", "-i", str(real), "-c:a", "libopus", "-b:a", "32k", "-f", "ogg")
    make("real.ogg", "-i", str(real), "-c:a", "libvorbis", "-q:a", "3")
    # Bad audio.
    make("silence.wav", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "4", "-c:a", "pcm_s16le")
    make("chord.mp3", "-f", "lavfi", "-i", "sine=f=220:d=4", "-f", "lavfi", "-i", "sine=f=277:d=4",
         "-f", "lavfi", "-i", "sine=f=330:d=4", "-filter_complex", "amix=inputs=3", "-c:a", "libmp3lame")
    make("phone.wav", "-i", str(real), "-af", "highpass=f=300,lowpass=f=3400", "-ar", "8000", "-ac", "1",
         "-c:a", "pcm_mulaw")
    make("two_hours.mp3", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "7200", "-c:a", "libmp3lame",
         "-b:a", "8k")
    whole = clips["real_mp3"].read_bytes()
    (out / "truncated.mp3").write_bytes(whole[: len(whole) // 3])
    clips["truncated_mp3"] = out / "truncated.mp3"
    (out / "not_audio.mp3").write_bytes(b"%PDF-1.4\n% a document, not a recording\n" * 40)
    clips["not_audio_mp3"] = out / "not_audio.mp3"
    return clips


@pytest.fixture(scope="session")
def synthetic_voice_video(face_video_source, audio_clips, tmp_path_factory) -> Path:
    """Four seconds of a real face clip with its own sound replaced by a synthetic voice (a dubbing)."""
    out = tmp_path_factory.mktemp("dubbed") / "face-synthetic-voice.mp4"
    ffmpeg("-i", str(face_video_source), "-i", str(audio_clips["synthetic_flac"]), "-map", "0:v", "-map", "1:a",
           "-t", "4", "-vf", "scale=-2:'min(360,ih)'", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-shortest", str(out))
    return out
