"""The Predictor: a media file in, a ``Prediction`` out.

    predictor = Predictor.load("ml/weights/detector.pt")      # once per process
    result = predictor.predict("clip.mp4", heatmap_dir="/tmp/x", progress=print)

Stages: read frames -> find and track faces -> crop -> CNN per crop -> LSTM per face track ->
Grad-CAM on the highest-scoring frames. A clip's score is its most suspicious face track's. Bad
media never raises: it comes back with ``status="error"`` and a stable ``error_code``.
"""
from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from typing import Callable

import cv2
import numpy as np
import torch

from . import errors
from .checkpoint import DEFAULT_PATH, load_checkpoint
from .errors import MediaError
from .faces import FaceFinder, crop_face
from .gradcam import GradCAM, overlay
from .media import Limits, probe, sample_frames
from .models import preprocess
from .result import AnalysedFrame, Prediction

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# How a face track's score is made from the network's outputs (named and swappable; the model card
# picks one with "clip_rule").
CLIP_RULES: dict[str, Callable[[np.ndarray, float], float]] = {
    "lstm": lambda frame_probs, clip_prob: clip_prob,
    "mean_frames": lambda frame_probs, clip_prob: float(frame_probs.mean()),
    "mean_lstm_frames": lambda frame_probs, clip_prob: float((frame_probs.mean() + clip_prob) / 2),
}


class TorchScorer:
    def __init__(self, model):
        self.model = model

    def __call__(self, crops: torch.Tensor) -> tuple[np.ndarray, float]:
        """1 x T x 3 x H x W -> (T frame logits, clip logit)."""
        with torch.inference_mode():
            out = self.model(crops)
        return out["frame_logits"][0].numpy(), float(out["clip_logit"][0])


class OnnxScorer:
    def __init__(self, onnx_path: str, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])

    def __call__(self, crops: torch.Tensor) -> tuple[np.ndarray, float]:
        frame_logits, clip_logit = self.session.run(None, {"crops": crops.numpy()})
        return frame_logits[0], float(clip_logit[0])


class Predictor:
    def __init__(self, model, card: dict, *, backend: str = "torch", onnx_path: str | None = None,
                 threads: int | None = None):
        self.model = model.eval()
        self.card = card
        self.version: str = card["version"]
        self.threshold: float = float(card["threshold"])
        pre = card["preprocessing"]
        self.input_size: int = int(pre["input_size"])
        self.margin: float = float(pre["margin"])
        self.frames: int = int(pre.get("frames", 32))
        self.clip_rule = CLIP_RULES[card.get("clip_rule", "lstm")]
        self.threads = threads or int(os.environ.get("DETECTOR_THREADS", "0")) or min(2, os.cpu_count() or 1)
        torch.set_num_threads(self.threads)
        self.faces = FaceFinder()
        if backend == "onnx":
            from .export_onnx import export

            onnx_path = onnx_path or export(model, self.input_size, cache_key=self.version)
            self.scorer = OnnxScorer(onnx_path, self.threads)
        elif backend == "torch":
            self.scorer = TorchScorer(self.model)
        else:
            raise ValueError(f"unknown backend {backend!r}")
        self.backend = backend

    @property
    def model_version(self) -> str:
        return self.version

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, **kwargs) -> "Predictor":
        model, card = load_checkpoint(path or DEFAULT_PATH)
        return cls(model, card, **kwargs)

    # ------------------------------------------------------------------------------------------
    def predict(self, path: str, *, frames: int | None = None, heatmap_dir: str | None = None,
                max_heatmaps: int = 8, progress: Progress | None = None,
                limits: Limits | None = None) -> Prediction:
        timings: dict[str, float] = {}
        report = progress or (lambda stage, percent: None)
        result = Prediction(path=path, kind="video", status="error", score=None, label=None,
                            threshold=self.threshold, model_version=self.version, timings=timings)
        try:
            self._predict(path, frames or self.frames, heatmap_dir, max_heatmaps, report, limits,
                          result, timings)
        except MediaError as exc:
            result.status = "no_face" if exc.code == errors.NO_FACE else "error"
            result.error_code, result.error = exc.code, exc.message
        except Exception as exc:  # a bug or a decoder crash: recorded, never a guess
            log.exception("prediction failed for %s", path)
            result.status, result.error_code = "error", "internal_error"
            result.error = f"The analysis failed unexpectedly ({type(exc).__name__})."
        return result

    def _predict(self, path, n_frames, heatmap_dir, max_heatmaps, report, limits, result, timings):
        with _timed(timings, "decode"):
            report("reading_frames", 5)
            info = probe(path, limits or Limits())
            result.kind = info.kind
            frames = sample_frames(path, n_frames, info)
        with _timed(timings, "faces"):
            report("finding_faces", 25)
            tracks = self.faces.track([f.image for f in frames])
            tracks = [t for t in tracks if t.faces]
        if not tracks:
            raise MediaError(errors.NO_FACE, "No face was found, so there is nothing to judge.")
        result.tracks = len(tracks)
        result.faces_found = sum(len(t.faces) for t in tracks)

        report("scoring", 50)
        scored = []  # (track, positions, crops tensor, matrices, frame probs)
        for track in tracks:
            positions = sorted(track.faces)
            with _timed(timings, "crop"):
                crops, matrices = [], []
                for pos in positions:
                    crop, matrix, _ = crop_face(frames[pos].image, track.faces[pos].landmarks,
                                                self.input_size, self.margin)
                    crops.append(crop)
                    matrices.append(matrix)
                x = preprocess(torch.from_numpy(np.stack(crops)))
            with _timed(timings, "cnn_lstm"):
                frame_logits, clip_logit = self.scorer(x[None])
            frame_probs = _sigmoid(frame_logits.astype(np.float64))
            clip_prob = float(_sigmoid(np.float64(clip_logit)))
            track_score = frame_probs[0] if info.kind == "image" else self.clip_rule(frame_probs, clip_prob)
            scored.append((track, positions, x, matrices, frame_probs, float(track_score)))

        best = max(scored, key=lambda s: s[5])
        result.score = round(best[5], 6)
        result.label = "fake" if result.score >= self.threshold else "real"
        for track, positions, _, _, probs, _ in scored:
            for pos, p in zip(positions, probs):
                face = track.faces[pos]
                result.frames.append(AnalysedFrame(frames[pos].index, frames[pos].time, face.box,
                                                   round(float(p), 6), track.id))
        result.frames.sort(key=lambda f: (f.index, f.track))

        if heatmap_dir and max_heatmaps > 0:
            report("heatmaps", 80)
            with _timed(timings, "gradcam"):
                self._heatmaps(frames, scored, result, heatmap_dir, max_heatmaps)
        report("done", 100)
        result.status = "ok"

    def _heatmaps(self, frames, scored, result, heatmap_dir, max_heatmaps):
        """Grad-CAM for the ``max_heatmaps`` highest-scoring faces, written next to a plain frame."""
        candidates = [(probs[i], t_i, i) for t_i, (_, _, _, _, probs, _) in enumerate(scored)
                      for i in range(len(probs))]
        chosen = sorted(candidates, reverse=True)[:max_heatmaps]
        os.makedirs(heatmap_dir, exist_ok=True)
        by_key = {(f.index, f.track): f for f in result.frames}
        with GradCAM(self.model) as cam:
            for t_i in sorted({c[1] for c in chosen}):
                track, positions, x, matrices, _, _ = scored[t_i]
                rows = [i for _, ti, i in chosen if ti == t_i]
                maps = cam(x[rows])
                for cam_map, i in zip(maps, rows):
                    pos = positions[i]
                    frame = frames[pos]
                    face = track.faces[pos]
                    heat, plain = overlay(frame.image, cam_map, matrices[i], face.box)
                    stem = os.path.join(heatmap_dir, f"frame{frame.index:06d}_t{track.id}")
                    cv2.imwrite(stem + "_heatmap.png", heat[..., ::-1])
                    cv2.imwrite(stem + "_frame.jpg", plain[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
                    row = by_key[(frame.index, track.id)]
                    row.heatmap, row.thumbnail = stem + "_heatmap.png", stem + "_frame.jpg"


@contextmanager
def _timed(timings: dict, stage: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(timings.get(stage, 0.0) + time.perf_counter() - start, 4)
