"""The voice detector (ml/audio/): decoding by content, bad audio's outcomes, the shipped model's ranking.

No database: media are made here with ffmpeg (and espeak-ng when installed); the 40 clips of
shared/data/audio/samples are the labelled check (they exist in CI, where missing data fails).
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ml import errors
from ml.audio import VoicePredictor, degrade, features, vad
from ml.audio.decode import AudioLimits, is_audio_file, load_audio, sniff
from ml.errors import MediaError
from tests.conftest import require

REPO = Path(__file__).resolve().parents[2]


def samples_dir() -> Path:
    root = os.environ.get("DEEPFAKE_DATA") or REPO.parent / "shared" / "data"
    return Path(root) / "audio" / "samples"


def sample_rows() -> list[dict]:
    labels = samples_dir() / "labels.csv"
    require(labels.exists(), f"the speech samples are missing ({labels})")
    with open(labels, newline="") as fh:
        return list(csv.DictReader(fh))


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args], check=True, timeout=60)


@pytest.fixture(scope="module")
def vp() -> VoicePredictor:
    return VoicePredictor.load()


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    """A real speech clip from samples/ as 16-bit WAV (the other media are made from it)."""
    real = next(r for r in sample_rows() if r["label"] == "real")
    out = tmp_path_factory.mktemp("speech") / "speech.wav"
    ffmpeg("-i", str(samples_dir() / Path(real["path"]).name), "-c:a", "pcm_s16le", str(out))
    return out


def test_silence_is_no_speech(vp, tmp_path):
    path = tmp_path / "silence.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "4", str(path))
    r = vp.predict(path)
    assert (r.status, r.error_code, r.score) == ("no_speech", errors.NO_SPEECH, None)
    assert len(r.seconds) == 4 and all(s["score"] is None for s in r.seconds)


def test_steady_tone_and_noise_are_no_speech(vp, tmp_path):
    tone, noise = tmp_path / "tone.mp3", tmp_path / "noise.ogg"
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=5", "-b:a", "64k", str(tone))
    ffmpeg("-f", "lavfi", "-i", "anoisesrc=d=5:c=white:a=0.2", "-c:a", "libopus", str(noise))
    assert vp.predict(tone).status == "no_speech"
    assert vp.predict(noise).status == "no_speech"


def test_truncated_files_give_an_error_code(vp, speech, tmp_path):
    cut_wav = tmp_path / "cut.wav"
    cut_wav.write_bytes(speech.read_bytes()[:20000])
    mp3 = tmp_path / "speech.mp3"
    ffmpeg("-i", str(speech), "-b:a", "32k", str(mp3))
    cut_mp3 = tmp_path / "cut.mp3"
    cut_mp3.write_bytes(mp3.read_bytes()[:2000])
    for path in (cut_wav, cut_mp3):
        r = vp.predict(path)
        assert r.status == "error" and r.error_code in (errors.AUDIO_TRUNCATED, errors.AUDIO_UNREADABLE), path
        assert r.error
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(speech.read_bytes()[:44])
    assert vp.predict(header_only).error_code in (errors.AUDIO_TRUNCATED, errors.AUDIO_UNREADABLE)


def test_a_name_saying_mp3_over_something_else_is_refused(vp, tmp_path):
    text = tmp_path / "note.mp3"
    text.write_text("this is not audio at all")
    picture = tmp_path / "photo.mp3"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:d=1", "-frames:v", "1", "-f", "image2", "-c:v", "mjpeg", str(picture))
    for path in (text, picture):
        r = vp.predict(path)
        assert (r.status, r.error_code) == ("error", errors.UNSUPPORTED_TYPE)
    assert "JPEG" in vp.predict(picture).error
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    assert vp.predict(empty).error_code == errors.EMPTY_FILE


def test_the_type_comes_from_the_content(speech, tmp_path):
    named_wrong = tmp_path / "voice.mp3"
    ffmpeg("-i", str(speech), "-c:a", "flac", "-f", "flac", str(named_wrong))
    assert load_audio(named_wrong).format == "flac"
    assert sniff(b"ID3\x04") == "mp3" and sniff(b"\xff\xfb\x90\x00") == "mp3" and sniff(b"\xff\xf1\x50\x80") == "aac"
    assert sniff(b"%PDF-1.7") is None


def test_video_without_sound_is_no_audio(vp, tmp_path):
    video = tmp_path / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:d=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(video))
    r = vp.predict(video)
    assert (r.status, r.error_code) == ("no_audio", errors.NO_AUDIO)
    assert not is_audio_file(video)


def test_a_videos_sound_track_is_judged(vp, speech, tmp_path):
    video = tmp_path / "talk.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:d=4", "-i", str(speech), "-shortest", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", "-c:a", "aac", str(video))
    r = vp.predict(video)
    assert r.status == "ok" and r.source == "video" and 0.0 <= r.score <= 1.0
    assert not is_audio_file(video)


def test_formats_and_telephone_audio_are_scored(vp, speech, tmp_path):
    outputs = {"a.mp3": ["-b:a", "32k"], "a.m4a": ["-c:a", "aac", "-b:a", "48k"], "a.ogg": ["-c:a", "libopus"],
               "a.flac": [], "phone.wav": ["-ar", "8000", "-c:a", "pcm_mulaw"]}
    for name, opts in outputs.items():
        path = tmp_path / name
        ffmpeg("-i", str(speech), *opts, str(path))
        assert is_audio_file(path), name
        r = vp.predict(path)
        assert r.status == "ok", (name, r.error)
        assert 0.0 <= r.score <= 1.0 and r.speech_s > 1.0
    assert vp.predict(tmp_path / "phone.wav").input_rate == 8000


def test_limits_refuse_long_and_large_files(vp, speech, tmp_path):
    long = tmp_path / "long.mp3"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "30", "-b:a", "8k", str(long))
    assert vp.predict(long, limits=AudioLimits(max_seconds=10)).error_code == errors.TOO_LONG
    assert vp.predict(speech, limits=AudioLimits(max_bytes=1000)).error_code == errors.TOO_LARGE
    with pytest.raises(MediaError) as caught:
        load_audio(long, AudioLimits(max_seconds=10))
    assert caught.value.code == errors.TOO_LONG


def test_result_is_json_and_seconds_cover_the_clip(vp, speech):
    r = vp.predict(speech)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["status"] == "ok" and d["model_version"] == vp.version and d["threshold"] == vp.threshold
    assert d["seconds"][0]["start"] == 0.0 and abs(d["seconds"][-1]["end"] - d["duration_s"]) < 0.02
    assert all(0.0 <= s["speech"] <= 1.0 for s in d["seconds"])
    assert any(s["score"] is not None for s in d["seconds"])


def test_espeak_speech_is_scored(vp, tmp_path):
    require(shutil.which("espeak-ng") is not None, "espeak-ng is not installed")
    path = tmp_path / "espeak.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "This is a synthetic voice reading a sentence aloud."],
                   check=True, timeout=30)
    r = vp.predict(path)
    assert r.status == "ok" and r.speech_s > 1.0


def test_front_end_vad_and_codecs_on_synthetic_signals():
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(32000)).astype(np.float32)
    assert features.features(wave, "logmel").shape == (80, 200)
    assert features.features(wave, "lfcc").shape == (60, 200)
    assert vad.detect(np.zeros(32000, np.float32)).speech_s == 0.0
    for name in degrade.CODECS:
        out = degrade.codec(wave, name, 32)
        assert out.shape == wave.shape and np.corrcoef(out, wave)[0, 1] > 0.5, name  # delay undone
    assert degrade.phone_band(wave).shape == wave.shape


def test_onnx_graph_matches_the_checkpoint():
    import torch

    from ml.audio import checkpoint

    model, _, card = checkpoint.load(checkpoint.DEFAULT_PT)
    assert checkpoint.read_card(checkpoint.DEFAULT_ONNX)["version"] == card["version"]
    x = np.random.default_rng(1).standard_normal((1, 1, card["preprocessing"]["bins"], 700)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    vp = VoicePredictor.load(checkpoint.DEFAULT_ONNX)
    got = vp.session.run(None, {"features": x})[0]
    assert np.abs(ref - got).max() < 1e-3


@pytest.mark.xfail(strict=True, reason="the shipped voice model does not generalise to dev's unseen systems yet: "
                   "samples/ AUC 0.35, dev AUC 0.595 (ml/weights/VOICE_MODEL_CARD.md); remove this mark when it passes")
def test_shipped_model_ranks_the_samples_fakes_above_reals(vp):
    from sklearn.metrics import roc_auc_score

    rows = sample_rows()
    results = [vp.predict(samples_dir() / Path(r["path"]).name) for r in rows]
    assert all(r.status == "ok" for r in results), [r.error for r in results if r.status != "ok"]
    labels = [int(r["label"] == "fake") for r in rows]
    auc = roc_auc_score(labels, [r.score for r in results])
    assert auc > 0.7, f"samples AUC {auc:.3f}"


def test_detect_command_answers_for_audio(speech):
    from ml.detect import JSON_KEYS

    proc = subprocess.run([sys.executable, "-m", "ml.detect", "--json", str(speech)], capture_output=True,
                          text=True, cwd=REPO, timeout=120, check=True)
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    assert tuple(row) == JSON_KEYS
    assert row["kind"] == "audio" and row["status"] == "ok" and row["voice"]["speech_s"] > 1.0
    assert row["score"] == row["voice"]["score"]


def _tiny_pool(root: Path) -> None:
    """Eight 3-second clips in two speaker groups per label, in the build's layout and manifest."""
    import wave as wavfile

    rng = np.random.default_rng(0)
    rows = []
    for i in range(8):
        label = "fake" if i % 2 else "real"
        t = np.arange(48000) / 16000
        tone = np.sin(2 * np.pi * (140 + 30 * i) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
        wave = (0.3 * tone + (0.05 if label == "fake" else 0.01) * rng.standard_normal(t.size)) * 32767
        rel = f"train/m{i % 2}/clip{i}.wav"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        with wavfile.open(str(root / rel), "wb") as fh:
            fh.setnchannels(1), fh.setsampwidth(2), fh.setframerate(16000)
            fh.writeframes(wave.astype("<i2").tobytes())
        rows.append({"relpath": rel, "split": "train", "label": label, "method": f"m{i % 2}", "kind": "tts",
                     "group": f"g{i % 4}", "clip_id": f"c{i}"})
    with open(root / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_training_resumes_to_the_same_weights(tmp_path, monkeypatch):
    import torch

    from ml.audio import data, train

    _tiny_pool(tmp_path / "pool")
    monkeypatch.setenv("AUDIO_DATA", str(tmp_path / "pool"))
    monkeypatch.setenv("AUDIO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "group_split", lambda clips, **_: (clips[:6], clips[6:] + clips[:2]))
    cfg = {**train.DEFAULTS, "steps": 4, "batch": 4, "minutes": 60.0, "val_every_s": 1e9, "width": 16,
           "codecs": False}
    train.run(dict(cfg), tmp_path / "straight", resume=False)
    assert train.run(dict(cfg), tmp_path / "paused", resume=False, stop_after=2) is None
    train.run(dict(cfg), tmp_path / "paused", resume=True)
    a, b = (torch.load(tmp_path / d / "state.pt", weights_only=False) for d in ("straight", "paused"))
    assert a["st"]["step"] == b["st"]["step"] == 4
    assert all(torch.allclose(a["model"][k].float(), b["model"][k].float(), atol=1e-5) for k in a["model"])
    assert all(torch.allclose(x, y) for x, y in zip(a["opt"]["state"][0].values(), b["opt"]["state"][0].values()))
    assert (tmp_path / "paused" / "voice.onnx").exists()
