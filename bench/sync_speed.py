"""What the lip-sync check costs on a 10-second 720p clip with speech, stage by stage.

    python bench/sync_speed.py [--runs 3] [--window 15]

Makes 10 s 720p H.264 + AAC clips from real talking clips with sound in the shared data (ffmpeg,
default x264 settings), then times ``SyncChecker().check`` (median of --runs, warm) and its stages:
reading the soundtrack, decoding the frames (grey, 640 px), face detection on key frames, landmarks
and mouth measures on every frame, correlation and scoring. One thread (cv2 and FFmpeg), as in the
worker. The host is shared: the load average is printed beside the figures, and the process's CPU
time (what the check would take on an idle core) beside the wall time.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("DEEPFAKE_DATA", REPO.parent / "shared" / "data")) / "train"
SOURCES = {  # name -> clip in the shared data with speech (at least 10 s long)
    "edtalk_obama": "tanshuai0219_EDTalk/test_data/uncrop_Obama.mp4",
    "liveportrait_d6": "KwaiVGI_LivePortrait/assets/examples/driving/d6.mp4",
}


def make_clips(out_dir: Path) -> list[Path]:
    clips = []
    for name, source in SOURCES.items():
        out = out_dir / f"{name}_10s_720p.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(DATA / source), "-t", "10",
                        "-vf", "scale=-2:720", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)],
                       check=True)
        clips.append(out)
    return clips


def stages(checker, path: str) -> dict[str, float]:
    """CPU seconds per stage of one check, run step by step as the checker runs them."""
    import numpy as np

    from ml.media.faces import FaceFinder
    from ml.sync.checker import Signals
    from ml.sync.mouth import MouthSignal, main_track, mouth_appearance, mouth_measures, read_frames
    from ml.sync.soundtrack import band_energy, read_soundtrack, speech_activity

    t = {}
    start = time.process_time()
    sound = read_soundtrack(path, seconds=checker.window_s + checker.max_offset_s)
    speech_activity(band_energy(sound))
    t["soundtrack"] = time.process_time() - start
    start = time.process_time()
    frames, times, fps, scale = read_frames(path, checker.window_s, max_fps=checker.max_fps, side=checker.side)
    t["decode"] = time.process_time() - start
    finder = FaceFinder(detect_side=checker.detect_side, fallback_side=checker.side,
                        detect_every=checker.detect_every)
    start = time.process_time()
    boxes = main_track(finder, frames)
    t["face detection"] = time.process_time() - start
    start = time.process_time()
    measures = np.full((len(frames), 5), np.nan)
    for pos, box in boxes.items():
        landmarks = finder.landmarks(frames[pos], box)
        shape, eyes = mouth_measures(landmarks)
        measures[pos] = shape + mouth_appearance(frames[pos], landmarks, eyes)
    t["landmarks"] = time.process_time() - start
    start = time.process_time()
    checker.judge(Signals(MouthSignal(times, measures, fps, 1.0), sound))
    t["correlate+score"] = time.process_time() - start
    t["frames"] = len(frames)
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--window", type=float, default=None, help="seconds analysed (default: the checker's)")
    args = ap.parse_args()
    import cv2

    from ml.sync import SyncChecker

    cv2.setNumThreads(1)
    checker = SyncChecker() if args.window is None else SyncChecker(window_s=args.window)
    with tempfile.TemporaryDirectory() as tmp:
        for clip in make_clips(Path(tmp)):
            checker.check(str(clip))  # warm: dlib models loaded, files cached
            times, cpu, result = [], [], None
            for _ in range(args.runs):
                start, start_cpu = time.perf_counter(), time.process_time()
                result = checker.check(str(clip))
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
            parts = stages(checker, str(clip))
            print(f"{clip.name}: check {statistics.median(times):.2f} s (median of {args.runs}; "
                  f"min {min(times):.2f}; CPU time {statistics.median(cpu):.2f} s), status {result.status}, score {result.score}, offset {result.offset_s}")
            print("  stages (CPU time): " + ", ".join(f"{k} {v:.2f} s" if k != "frames" else f"{v} frames"
                                           for k, v in parts.items()))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared host)")


if __name__ == "__main__":
    main()
