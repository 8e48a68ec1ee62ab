"""Speed and memory of the detector on 10-second 720p H.264 clips, against the classic pipeline.

    python bench/detect_speed.py [--checkpoint P] [--backend torch|onnx] [--precision auto|fp32|bf16|fp32,bf16]
                                 [--runs 5] [--skip-baseline] [--frames 2,4,6]

Prints the CPU features found (``ml.inference.cpu_features``), then for a warm model on this machine and
each precision asked for: time to a verdict with heatmaps for the 8 highest-scoring frames and without
heatmaps (median of --runs), the time per stage (decode, face detection, crop, encoder, heads, heatmaps,
writes; the fp32 ONNX graph runs encoder and heads as one), and the process's peak RSS. ``--precision``:
``auto`` (the default) is what a worker picks on this CPU (bf16 where it multiplies bf16 natively, else
fp32); ``fp32,bf16`` times both (bf16 on a CPU without it is emulated by oneDNN and slow: not a figure).
Then the classic pipeline of the best-known open Django deepfake app, run on the same clips: the
whole video decoded into memory, the first 20 consecutive frames, dlib HOG (upsample 1) at full
resolution twice per frame, ResNeXt50-32x4d at 112x112 into an LSTM(2048, 2048), rebuilt per call,
random weights, and our speed-up over it. Targets (issue 30): <= 0.5 s with heatmaps on 2 cores, >= 20x the
classic pipeline, peak RSS <= 1 GB.
``--frames 2,4,6,8`` also times the first clip at each frame count (what the frame count costs; what it
buys in AUC is printed by ``python -m ml.evaluation.speed_check --frames 2,3``).
``DETECTOR_DECODE=fast`` times the keyframe-aware reader (the default decodes every frame); ``DETECTOR_FRAMES=N`` times N frames a
clip, as workers with that setting run (unset: the model card's count).
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


# Frames a clip as the workers run it: DETECTOR_FRAMES as the portal reads it (unset or 0: the model card's count).
SERVED_FRAMES = int(os.environ.get("DETECTOR_FRAMES") or 0) or None
# Predictor timing keys -> the stages the issue names (ONNX runs encoder and heads as one graph).
STAGES = {"decode": "decode", "faces": "face detection", "crop": "crop", "cnn_lstm": "encoder+heads",
          "cnn": "encoder+heads", "encoder": "encoder", "lstm": "heads", "heads": "heads", "gradcam": "heatmaps",
          "heatmaps": "heatmaps", "heatmap_files": "writes"}


def stage_split(stages: dict[str, list[float]]) -> str:
    """Median ms and share of the total per stage."""
    medians: dict[str, float] = {}
    for key, values in stages.items():
        label = STAGES.get(key, key)
        medians[label] = medians.get(label, 0.0) + statistics.median(values)
    total = sum(medians.values()) or 1.0
    return ", ".join(f"{k} {v * 1000:.0f} ms ({100 * v / total:.0f}%)" for k, v in medians.items())


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


def time_predictor(predictor, clips, runs: int, tmp: str, frames: str) -> dict:
    """Median seconds per (clip, mode) for one loaded predictor; prints each line."""
    ours = {}
    for clip in clips:
        predictor.predict(str(clip), frames=SERVED_FRAMES, heatmap_dir=os.path.join(tmp, "warm"))  # warm-up
        for mode, heatmaps in (("with heatmaps", True), ("without heatmaps", False)):
            totals, stages = [], {}
            for run in range(runs):
                out = os.path.join(tmp, f"hm{run}") if heatmaps else None
                start = time.perf_counter()
                result = predictor.predict(str(clip), frames=SERVED_FRAMES, heatmap_dir=out, max_heatmaps=8)
                totals.append(time.perf_counter() - start)
                assert result.status == "ok", result.error
                for stage, seconds in result.timings.items():
                    stages.setdefault(stage, []).append(seconds)
            median = statistics.median(totals)
            ours[(clip.name, mode)] = median
            print(f"  {clip.name} {mode}: {median:.3f} s (median of {runs}; min {min(totals):.3f}) "
                  f"| {stage_split(stages)} | {len(result.frames)} faces, score {result.score:.3f}", flush=True)
    for n in [int(v) for v in frames.split(",") if v]:
        totals = []
        for run in range(runs):
            start = time.perf_counter()
            result = predictor.predict(str(clips[0]), frames=n, heatmap_dir=os.path.join(tmp, f"f{n}-{run}"))
            totals.append(time.perf_counter() - start)
        print(f"  {clips[0].name} with heatmaps at {n} frames: {statistics.median(totals):.3f} s "
              f"(median of {runs}), {len(result.frames)} faces, score {result.score:.3f}")
    return ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="default: the shipped ml/weights/detector.pt")
    parser.add_argument("--backend", choices=("torch", "onnx"), default="onnx")
    parser.add_argument("--precision", default="auto", help="auto, fp32, bf16 or a comma-separated list (onnx backend)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--frames", default="", help="comma-separated frame counts to time on the first clip")
    args = parser.parse_args()

    from ml.inference import Predictor, cpu_features  # with fp32 ONNX, torch is not imported before the baseline
    from ml.media.seek import decode_mode

    print(cpu_features.describe(), f"| decode: {decode_mode()} | threads: {cpu_features.worker_threads()}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        clips = make_clips(Path(tmp))
        for precision in args.precision.split(","):
            os.environ["DETECTOR_PRECISION"] = precision
            predictor = Predictor.load(args.checkpoint, backend=args.backend)
            native = precision != "bf16" or cpu_features.has_bf16()
            print(f"model {predictor.version}, {SERVED_FRAMES or predictor.frames} frames a clip, "
                  f"backend {predictor.backend} (precision {precision}"
                  f"{'' if native else ': NOT native on this CPU, emulated, not a figure'}), {predictor.threads} threads")
            results[predictor.backend] = time_predictor(predictor, clips, args.runs, tmp, args.frames)
            print(f"  peak RSS of this process so far: {peak_rss_mb():.0f} MB (torch imported: {'torch' in sys.modules})",
                  flush=True)
            del predictor

        if args.skip_baseline:
            return
        for clip in clips:
            start = time.perf_counter()
            classic_pipeline(str(clip))
            classic = time.perf_counter() - start
            for backend, ours in results.items():
                for mode in ("with heatmaps", "without heatmaps"):
                    print(f"classic pipeline on {clip.name}: {classic:.2f} s -> {backend} {mode}: "
                          f"{ours[(clip.name, mode)]:.3f} s, speed-up {classic / ours[(clip.name, mode)]:.1f}x")


if __name__ == "__main__":
    main()
