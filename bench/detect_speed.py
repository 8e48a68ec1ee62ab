"""Speed and memory of the detector on 10-second 720p H.264 clips, against the classic pipeline.

    python bench/detect_speed.py [--checkpoint P] [--backend torch|onnx] [--runs 5] [--skip-baseline]

Prints, for a warm model on this machine: time to a verdict with heatmaps for the 8 highest-scoring
frames and without heatmaps (median of --runs), the time per stage, and the process's peak RSS.
Then the classic pipeline of the best-known open Django deepfake app, run on the same clips: the
whole video decoded into memory, the first 20 consecutive frames, dlib HOG (upsample 1) at full
resolution twice per frame, ResNeXt50-32x4d at 112x112 into an LSTM(2048, 2048), rebuilt per call,
random weights. Targets (issue 23, the CLIP detector): <= 2.0 s with heatmaps on 2 cores, peak RSS <= 1.5 GB.
``--frames 2,4,6,8`` also times the first clip at each frame count (what the frame count costs; what it
buys in AUC is printed by ``python -m ml.training.clip_train --frame-counts``).
The clips are made here with ffmpeg's default x264 settings from real clips in the shared data.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("DEEPFAKE_DATA", REPO.parent / "shared" / "data")) / "train"
SOURCES = {  # name -> (clip in the shared data, input options that make it 10 s long)
    "liveportrait_s18": ("KwaiVGI_LivePortrait/assets/examples/source/s18.mp4", ["-stream_loop", "2"]),
    "facenet_example": ("timesler_facenet-pytorch/examples/video.mp4", ["-stream_loop", "3"]),
}


def make_clips(out_dir: Path) -> list[Path]:
    clips = []
    for name, (source, loop) in SOURCES.items():
        out = out_dir / f"{name}_10s_720p.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *loop, "-i", str(DATA / source), "-t", "10",
                        "-an", "-vf", "scale=-2:720", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out)],
                       check=True)
        clips.append(out)
    return clips


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def classic_pipeline(path: str) -> float:
    """One request of the classic app, as it does it; returns its score."""
    import cv2
    import dlib
    import torch
    from torch import nn
    from torchvision import models, transforms

    torch.set_num_threads(2)

    capture = cv2.VideoCapture(path)
    frames = []
    while True:  # the whole video into memory
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    detector = dlib.get_frontal_face_detector()
    crops = []
    for frame in frames[:20]:
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        detector(rgb, 1)  # once to check there is a face ...
        faces = detector(rgb, 1)  # ... and again to crop it
        if faces:
            f = faces[0]
            crops.append(rgb[max(0, f.top()):f.bottom(), max(0, f.left()):f.right()])

    class Model(nn.Module):  # rebuilt on every request
        def __init__(self):
            super().__init__()
            self.cnn = nn.Sequential(*list(models.resnext50_32x4d(weights=None).children())[:-2])
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.lstm = nn.LSTM(2048, 2048, 1, bias=False)
            self.head = nn.Linear(2048, 2)

        def forward(self, x):
            b, t = x.shape[:2]
            feats = self.pool(self.cnn(x.view(b * t, *x.shape[2:]))).view(b, t, 2048)
            out, _ = self.lstm(feats)
            return self.head(out.mean(dim=1))

    model = Model().eval()
    tf = transforms.Compose([transforms.ToPILImage(), transforms.Resize((112, 112)), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    batch = torch.stack([tf(c) for c in crops])[None]
    with torch.no_grad():
        return float(torch.softmax(model(batch), dim=1)[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="default: the shipped ml/weights/detector.pt")
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--frames", default="", help="comma-separated frame counts to time on the first clip")
    args = parser.parse_args()

    from ml.inference import Predictor  # with --backend onnx, torch is not imported before the baseline

    with tempfile.TemporaryDirectory() as tmp:
        clips = make_clips(Path(tmp))
        predictor = Predictor.load(args.checkpoint, backend=args.backend)
        print(f"model {predictor.version}, backend {args.backend}, {predictor.threads} threads, "
              f"torch imported: {'torch' in sys.modules}")
        ours = {}
        for clip in clips:
            predictor.predict(str(clip), heatmap_dir=os.path.join(tmp, "warm"))  # warm-up
            for mode, heatmaps in (("with heatmaps", True), ("without heatmaps", False)):
                totals, stages = [], {}
                for run in range(args.runs):
                    out = os.path.join(tmp, f"hm{run}") if heatmaps else None
                    start = time.perf_counter()
                    result = predictor.predict(str(clip), heatmap_dir=out, max_heatmaps=8)
                    totals.append(time.perf_counter() - start)
                    assert result.status == "ok", result.error
                    for stage, seconds in result.timings.items():
                        stages.setdefault(stage, []).append(seconds)
                median = statistics.median(totals)
                ours[(clip.name, mode)] = median
                per_stage = ", ".join(f"{k} {statistics.median(v) * 1000:.0f} ms" for k, v in stages.items())
                print(f"{clip.name} {mode}: {median:.3f} s (median of {args.runs}; min {min(totals):.3f}) "
                      f"| {per_stage} | {len(result.frames)} faces, score {result.score:.3f}")
        for n in [int(v) for v in args.frames.split(",") if v]:
            totals = []
            for run in range(args.runs):
                start = time.perf_counter()
                result = predictor.predict(str(clips[0]), frames=n, heatmap_dir=os.path.join(tmp, f"f{n}-{run}"))
                totals.append(time.perf_counter() - start)
            print(f"{clips[0].name} with heatmaps at {n} frames: {statistics.median(totals):.3f} s "
                  f"(median of {args.runs}), {len(result.frames)} faces, score {result.score:.3f}")
        print(f"peak RSS of this process after our runs: {peak_rss_mb():.0f} MB "
              f"(torch imported: {'torch' in sys.modules})")

        if args.skip_baseline:
            return
        for clip in clips:
            start = time.perf_counter()
            classic_pipeline(str(clip))
            classic = time.perf_counter() - start
            for mode in ("with heatmaps", "without heatmaps"):
                print(f"classic pipeline on {clip.name}: {classic:.2f} s -> speed-up {mode}: "
                      f"{classic / ours[(clip.name, mode)]:.1f}x")


if __name__ == "__main__":
    main()
