"""Which face detector: dlib HOG or OpenCV's Haar cascade, at which scale (speed and recall).

    python bench/face_detectors.py [--clips 30] [--frames 8]

Every real clip in the shared data shows a face in every frame, so recall here is the share of
sampled frames where the detector finds at least one face; time is per frame on this machine.
The pipeline uses the fastest setting whose recall is within a point of the best.
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import dlib

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("DEEPFAKE_DATA", REPO.parent / "shared" / "data")) / "train"

from ml.media.decode import sample_frames  # noqa: E402


def scaled(rgb, side):
    h, w = rgb.shape[:2]
    s = min(1.0, side / max(h, w))
    return cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else rgb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=30)
    parser.add_argument("--frames", type=int, default=8)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    with open(DATA / "labels.csv") as fh:
        videos = [r["path"] for r in csv.DictReader(fh) if r["kind"] == "video"]
    videos = videos[:: max(1, len(videos) // args.clips)][: args.clips]
    frames = [f.image for v in videos for f in sample_frames(str(DATA / v), args.frames)]
    print(f"{len(frames)} frames from {len(videos)} real clips "
          f"(median size {statistics.median(f.shape[1] for f in frames):.0f}x"
          f"{statistics.median(f.shape[0] for f in frames):.0f})")

    hog = dlib.get_frontal_face_detector()
    haar = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml"))

    def haar_detect(img):
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        return haar.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(30, 30))

    candidates = {
        "dlib HOG, long side 640, upsample 0": lambda f: hog(scaled(f, 640), 0),
        "dlib HOG, long side 480, upsample 0 (chosen)": lambda f: hog(scaled(f, 480), 0),
        "dlib HOG, long side 320, upsample 0": lambda f: hog(scaled(f, 320), 0),
        "dlib HOG, long side 640, upsample 1": lambda f: hog(scaled(f, 640), 1),
        "OpenCV Haar, long side 640": lambda f: haar_detect(scaled(f, 640)),
        "OpenCV Haar, long side 320": lambda f: haar_detect(scaled(f, 320)),
    }
    print(f"{'detector':48s} {'recall':>7s} {'ms/frame':>9s}")
    for name, detect in candidates.items():
        start = time.perf_counter()
        found = sum(len(detect(f)) > 0 for f in frames)
        ms = (time.perf_counter() - start) / len(frames) * 1000
        print(f"{name:48s} {found / len(frames):7.3f} {ms:9.1f}")


if __name__ == "__main__":
    main()
