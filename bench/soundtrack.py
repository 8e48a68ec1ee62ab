"""What the sound costs the worker (issue 29): the voice detector, the spectrogram and the lip-sync check on a
10-second clip of speech and on a 10-second 720p H.264 video with that speech as its sound track.

    python bench/soundtrack.py [--runs 5]

Prints the median wall time of each step for a warm model on this machine (one thread, as the worker runs
them) and the sum the worker adds to a video's face analysis. Targets (issue 29): the voice analysis of a
10 s clip <= 0.3 s on 2 cores; the whole 10 s 720p video with sound within the video speed target
(bench/detect_speed.py) plus that. Clips are made here with ffmpeg from the shared data's audio samples and
a real face clip.
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("DEEPFAKE_DATA", REPO.parent / "shared" / "data"))
FACE_CLIP = "KwaiVGI_LivePortrait/assets/examples/source/s18.mp4"  # as bench/detect_speed.py


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def make_clips(out: Path) -> tuple[Path, Path]:
    """(10 s of speech as mp3, a 10 s 720p face video with that speech)."""
    root = DATA / "audio" / "samples"
    with open(root / "labels.csv", newline="") as fh:
        paths = [root.parent / row["path"] for row in csv.DictReader(fh)][:3]
    listing = out / "list.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in paths))
    speech = out / "speech_10s.mp3"
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-t", "10", "-ar", "16000", "-c:a", "libmp3lame", str(speech))
    video = out / "face_speech_10s_720p.mp4"
    ffmpeg("-stream_loop", "2", "-i", str(DATA / "train" / FACE_CLIP), "-i", str(speech), "-map", "0:v", "-map", "1:a",
           "-t", "10", "-vf", "scale=-2:720", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(video))
    return speech, video


def median_time(fn, runs: int) -> float:
    fn()  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from ml.audio import VoicePredictor
    from ml.media.audio import read_audio
    from ml.sync import SyncChecker

    from detection.spectrogram import save_spectrogram

    with tempfile.TemporaryDirectory() as tmp:
        speech, video = make_clips(Path(tmp))
        voice, checker = VoicePredictor.load(threads=1), SyncChecker()
        png = os.path.join(tmp, "s.png")
        rows = [
            ("voice, 10 s mp3", median_time(lambda: voice.predict(str(speech)), args.runs)),
            ("spectrogram, 10 s mp3", median_time(lambda: save_spectrogram(read_audio(str(speech)), png), args.runs)),
            ("voice, 10 s 720p video's sound track", median_time(lambda: voice.predict(str(video)), args.runs)),
            ("spectrogram, the video's sound track", median_time(lambda: save_spectrogram(read_audio(str(video)), png),
                                                                 args.runs)),
            ("lip sync, 10 s 720p video", median_time(lambda: checker.check(str(video)), max(1, args.runs // 2))),
        ]
    for name, seconds in rows:
        print(f"{name:42s} {seconds:7.3f} s")
    print(f"{'added to a video with sound (rows 3-5)':42s} {sum(s for _, s in rows[2:]):7.3f} s")


if __name__ == "__main__":
    main()
