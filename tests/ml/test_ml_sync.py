"""The lip-sync check (ml/sync): a real talking clip is in sync, the same clip with its audio moved
0.3 s or 1 s late is flagged, and files without a usable soundtrack get a clear status.

The clips are made here with ffmpeg from a real talking-head video with sound in the shared data's dev
split (GHOST's obama_short example, 6.9 s; the sync check was calibrated on train's clips only, so
this one is held out); tests that need it fail, never skip, when it is missing.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ml.sync import SyncChecker, SyncResult
from ml.sync.correlate import curves, mean_curve, peak
from ml.sync.soundtrack import Soundtrack, read_soundtrack
from tests.ml_media import DATA, REPO, ffmpeg

TALKING = DATA / "dev" / "ai-forever_ghost" / "examples" / "videos" / "obama_short.mp4"


@pytest.fixture(scope="module")
def checker() -> SyncChecker:
    return SyncChecker()


@pytest.fixture(scope="module")
def talking(tmp_path_factory) -> Path:
    if not TALKING.exists():
        pytest.fail(f"test data missing: {TALKING} (set DEEPFAKE_DATA to the shared data folder)")
    out = tmp_path_factory.mktemp("sync") / "talking.mp4"
    ffmpeg("-i", str(TALKING), "-c", "copy", str(out))
    return out


def audio_late(src: Path, seconds: float, out: Path) -> Path:
    """The same video with its soundtrack played ``seconds`` later (ffmpeg -itsoffset, audio re-encoded)."""
    ffmpeg("-i", str(src), "-itsoffset", str(seconds), "-i", str(src), "-map", "0:v", "-map", "1:a",
           "-c:v", "copy", "-c:a", "aac", "-t", "7", str(out))
    return out


def test_the_unshifted_clip_is_in_sync(checker, talking):
    r = checker.check(str(talking))
    assert r.status == "ok", r
    assert not r.flagged, r.to_dict()
    assert abs(r.offset_s) <= 0.2
    assert r.segments and all({"start", "end", "offset_s", "confidence", "score"} <= set(s) for s in r.segments)


@pytest.mark.parametrize("shift", [0.3, 1.0])
def test_audio_moved_late_is_flagged(checker, talking, tmp_path, shift):
    r = checker.check(str(audio_late(talking, shift, tmp_path / f"late{shift}.mp4")))
    assert r.status == "ok", r
    assert r.flagged, r.to_dict()
    assert r.offset_s == pytest.approx(shift, abs=0.2)


def test_a_soundtrack_with_a_start_offset_is_placed_on_the_video_timeline(talking, tmp_path):
    plain = read_soundtrack(str(talking), seconds=6)
    late = read_soundtrack(str(audio_late(talking, 0.5, tmp_path / "late.mp4")), seconds=6)
    lag = np.argmax(np.correlate(late.samples[:40000], plain.samples[:32000], "valid"))
    assert lag / 16000 == pytest.approx(0.5, abs=0.03)


def test_a_video_without_audio_is_no_audio(checker, talking, tmp_path):
    out = tmp_path / "silent.mp4"
    ffmpeg("-i", str(talking), "-an", "-c:v", "copy", str(out))
    r = checker.check(str(out))
    assert (r.status, r.score) == ("no_audio", None)


@pytest.mark.parametrize("source", ["anullsrc=r=16000:cl=mono", "sine=frequency=440:sample_rate=16000"])
def test_silence_or_a_steady_tone_is_no_speech(checker, talking, tmp_path, source):
    out = tmp_path / "tone.mp4"
    ffmpeg("-i", str(talking), "-f", "lavfi", "-i", source, "-map", "0:v", "-map", "1:a", "-c:v", "copy",
           "-c:a", "aac", "-shortest", str(out))
    assert checker.check(str(out)).status == "no_speech"


def test_speech_without_a_face_is_no_face(checker, talking, tmp_path):
    out = tmp_path / "noface.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=320x240:r=25", "-i", str(talking), "-map", "0:v", "-map", "1:a",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", "-t", "5", str(out))
    assert checker.check(str(out)).status == "no_face"


def test_bad_files_are_an_error_status_not_a_crash(checker, talking, tmp_path):
    fake = tmp_path / "voice.mp4"
    fake.write_text("this is not a video")
    r = checker.check(str(fake))
    assert (r.status, r.error_code) == ("error", "unsupported_type")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(talking.read_bytes()[:5000])
    assert checker.check(str(cut)).status == "error"
    assert checker.check(str(tmp_path / "missing.mp4")).status == "error"


def test_the_command_line_prints_json(talking):
    out = subprocess.run([sys.executable, "-m", "ml.sync.check", str(talking)], cwd=REPO, capture_output=True,
                         text=True, timeout=300, check=True).stdout
    result = json.loads(out)
    assert result["status"] == "ok" and 0 <= result["score"] <= 1 and result["method_version"]


# -- no data needed -------------------------------------------------------------------------------------


def test_correlation_finds_a_known_offset_in_synthetic_signals():
    rng = np.random.default_rng(0)
    fps, n, lag = 25.0, 400, 8  # audio 8 frames (0.32 s) late
    mouth = np.convolve(rng.normal(size=n + lag), np.ones(4) / 4, "same")
    audio = np.concatenate([np.zeros(lag), mouth])[: n + lag]
    found = curves(mouth[:n], audio[:n], np.ones(n, dtype=bool), fps)
    p = peak(found[0].offsets, mean_curve(found))
    assert p.offset_s == pytest.approx(lag / fps, abs=0.01) and p.peak > 0.9


def test_shifting_a_soundtrack_in_memory():
    track = Soundtrack(np.arange(16000, dtype=np.float32))
    late, early = track.shifted(0.25), track.shifted(-0.25)
    assert late.samples[4000] == 0 and late.samples[4001] == 1 and len(late.samples) == 16000
    assert early.samples[0] == 4000 and early.samples[-1] == 0


def test_result_json_has_the_contract_fields():
    d = SyncResult("no_audio", threshold=0.5, method_version="v").to_dict()
    assert {"status", "score", "offset_s", "segments", "threshold", "method_version"} <= set(d)
