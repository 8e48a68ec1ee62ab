"""The Predictor: a media file in, a ``Prediction`` out.

    predictor = Predictor.load()                      # once per process; the shipped model
    result = predictor.predict("clip.mp4", heatmap_dir="/tmp/x", progress=print)

Stages: read frames -> find and track faces -> crop -> CNN per crop -> LSTM per face track ->
Grad-CAM on the highest-scoring faces. A clip's score is its most suspicious face track's. Bad
media never raises: it comes back with ``status="error"`` (or ``"no_face"``) and a stable
``error_code``. With ``backend="onnx"`` nothing here imports torch.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ml import calibration, errors
from ml.clip_rules import CLIP_RULES, topk_mean, track_score
from ml.errors import MediaError
from ml.inference.backends import OnnxScorer, TorchScorer, timed
from ml.inference.defences import purify
from ml.inference.heatmap import overlay
from ml.inference.result import AnalysedFrame, Prediction
from ml.inference.tamper import TamperCheck
from ml.media.decode import Limits, probe, sample_frames
from ml.media.faces import FaceFinder, crop_face
from ml.paths import DEFAULT_CHECKPOINT

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class Predictor:
    def __init__(self, scorer, card: dict, *, backend: str, purify: bool = False):
        self.scorer = scorer
        self.card = card
        self.backend = backend
        self.version: str = card["version"]
        self.threshold: float = float(card["threshold"])
        pre = card["preprocessing"]
        self.input_size: int = int(pre["input_size"])
        self.margin: float = float(pre["margin"])
        self.frames: int = int(pre.get("frames", 32))
        self.clip_rule = card.get("clip_rule", "lstm")
        CLIP_RULES[self.clip_rule]  # an unknown rule fails here, at load
        self.purify = purify  # the adversarial-input defence in ml/defences.py
        self.threads = getattr(scorer, "threads", None)
        self.faces = FaceFinder()
        # Issue 31: the tamper signal, when a threshold was fitted for this model version (ml/weights/tamper.json).
        self.tamper = TamperCheck.for_model(self.version)

    @property
    def model_version(self) -> str:
        return self.version

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, *, backend: str = "torch",
             threads: int | None = None, purify: bool = False) -> "Predictor":
        """``path``: a checkpoint (.pt), or for the ONNX backend also an .onnx file. With the ONNX
        backend and a .pt path, the .onnx beside it is used when it holds the same model version,
        otherwise the checkpoint is exported to a cache first."""
        from ml.inference import cpu_features

        path = Path(path or DEFAULT_CHECKPOINT)
        threads = threads or cpu_features.worker_threads()
        if backend == "onnx" and cpu_features.choose_precision() == "bf16":  # the speed path (DETECTOR_PRECISION)
            backend = "bf16"
        if backend == "bf16":
            from ml.inference.fast_scorer import Bf16Scorer
            from ml.models.checkpoint import load_checkpoint

            model, card = load_checkpoint(path)
            if hasattr(model, "patch_scores"):
                return cls(Bf16Scorer(model, threads), card, backend=backend, purify=purify)
            backend = "onnx"  # not a CLIP detector: the fp32 graph
        if backend == "torch":
            from ml.models.checkpoint import load_checkpoint

            model, card = load_checkpoint(path)
            return cls(TorchScorer(model, threads), card, backend=backend, purify=purify)
        if backend == "onnx":
            if path.suffix == ".onnx":
                onnx_path = path
            else:
                from ml.inference.backends import fresh_onnx_beside
                from ml.paths import onnx_cache_path

                onnx_path = fresh_onnx_beside(path)
                if onnx_path is None:  # none beside, or exported from other weights: the cache (no torch needed)
                    onnx_path = onnx_cache_path(path)
                if not onnx_path.exists():  # not exported yet: export (imports torch once)
                    from ml.inference.export_onnx import export_checkpoint

                    onnx_path = export_checkpoint(path)
            scorer = OnnxScorer(onnx_path, threads)
            return cls(scorer, scorer.card, backend=backend, purify=purify)
        raise ValueError(f"unknown backend {backend!r}")

    # ------------------------------------------------------------------------------------------
    def predict(self, path: str, *, frames: int | None = None, heatmap_dir: str | None = None,
                max_heatmaps: int = 8, progress: Progress | None = None,
                limits: Limits | None = None,
                passthrough: tuple[type[BaseException], ...] = (), tamper_below: float | None = None) -> Prediction:
        """``passthrough``: exception types that must reach the caller (e.g. a task's time limit)
        instead of being recorded as a failed prediction. ``tamper_below``: run the tamper check
        (``ml.inference.tamper``) on the deciding track when the score is below this (e.g. threshold + band)."""
        timings: dict[str, float] = {}
        report = progress or (lambda stage, percent: None)
        result = Prediction(path=path, kind="video", status="error", score=None, label=None,
                            threshold=self.threshold, model_version=self.version, timings=timings)
        try:
            self._predict(path, frames or self.frames, heatmap_dir, max_heatmaps, report, limits,
                          result, timings, tamper_below)
        except passthrough:
            raise
        except MediaError as exc:
            result.status = "no_face" if exc.code == errors.NO_FACE else "error"
            result.error_code, result.error = exc.code, exc.message
        except Exception as exc:  # a bug or a decoder crash: recorded, never a guess
            log.exception("prediction failed for %s", path)
            result.status, result.error_code = "error", "internal_error"
            result.error = f"The analysis failed unexpectedly ({type(exc).__name__})."
        return result

    def _predict(self, path, n_frames, heatmap_dir, max_heatmaps, report, limits, result, timings, tamper_below=None):
        with timed(timings, "decode"):
            report("reading_frames", 5)
            info = probe(path, limits or Limits())
            result.kind = info.kind
            frames = sample_frames(path, n_frames, info)
        with timed(timings, "faces"):
            report("finding_faces", 25)
            tracks = [t for t in self.faces.track([f.image for f in frames]) if t.faces]
        if not tracks:
            raise MediaError(errors.NO_FACE, "No face was found, so there is nothing to judge.")
        result.tracks = len(tracks)
        result.faces_found = sum(len(t.faces) for t in tracks)

        report("scoring", 50)
        best = None  # the most suspicious track: (score, track, positions, matrices, frame probs)
        heatmap_jobs = []  # (frame prob, track, position, matrix, crop row)
        for track in tracks:
            positions = sorted(track.faces)
            with timed(timings, "crop"):
                cropped = [crop_face(frames[p].image, track.faces[p].landmarks, self.input_size, self.margin)
                           for p in positions]
            crops = np.stack([c[0] for c in cropped])
            if self.purify:
                crops = purify(crops, np.random.default_rng())
            frame_logits, clip_logit = self.scorer(crops, timings)
            probs = _sigmoid(frame_logits)
            raw = track_score(self.clip_rule, info.kind, probs, float(_sigmoid(clip_logit)))
            # Reported scores are calibrated P(fake) (the card's calibration; identity without one).
            score = float(calibration.calibrate(self.card, [raw], info.kind)[0])
            probs = calibration.calibrate(self.card, probs, info.kind)
            for row, (pos, prob) in enumerate(zip(positions, probs)):
                face = track.faces[pos]
                result.frames.append(AnalysedFrame(frames[pos].index, frames[pos].time, face.box,
                                                   round(float(prob), 6), track.id))
            if heatmap_dir and max_heatmaps > 0:
                # CAMs must be taken while this track's crops are the scorer's current input.
                top = np.argsort(-probs, kind="stable")[:max_heatmaps]
                maps = self.scorer.cams([int(r) for r in top], timings)
                heatmap_jobs += [(float(probs[r]), track, positions[r], cropped[r][1], m) for r, m in zip(top, maps)]
            if best is None or score > best:
                best, deciding = score, (crops, frame_logits)
                if info.kind != "image":
                    result.clip_parts = self.clip_parts(probs, float(_sigmoid(clip_logit)), score)

        result.score = round(best, 6)
        result.label = "fake" if result.score >= self.threshold else "real"
        result.frames.sort(key=lambda f: (f.index, f.track))
        if heatmap_jobs:
            report("heatmaps", 80)
            with timed(timings, "heatmap_files"):
                self._write_heatmaps(frames, heatmap_jobs, result, heatmap_dir, max_heatmaps)
        if tamper_below is not None and self.tamper is not None and result.score < tamper_below:
            with timed(timings, "tamper"):  # after the heatmaps: scoring again replaces the scorer's last input
                result.tamper = self.tamper.check(lambda c: self.scorer(c, {})[0], *deciding)
        report("done", 100)
        result.status = "ok"

    def clip_parts(self, calibrated_probs: np.ndarray, lstm_prob: float, score: float) -> dict:
        """The parts a clip score is made of, calibrated like it, so a reader can check it: the mean and
        top-quarter mean of the frame probabilities, and the temporal model's probability where the card
        uses one (``None`` for a monotone rule of frame scores alone)."""
        uses_lstm = "lstm" in self.card.get("clip_rule", "lstm")
        temporal = float(calibration.calibrate(self.card, [lstm_prob], "video")[0]) if uses_lstm else None
        return {"rule": self.card.get("clip_rule", "lstm"), "score": round(score, 6),
                "frame_mean": round(float(np.mean(calibrated_probs)), 6),
                "topk_mean": round(topk_mean(calibrated_probs), 6),
                "temporal": None if temporal is None else round(temporal, 6),
                "frames_above": int((calibrated_probs >= self.threshold).sum()), "frames": len(calibrated_probs)}

    def _write_heatmaps(self, frames, jobs, result, heatmap_dir, max_heatmaps):
        """The ``max_heatmaps`` highest-scoring faces over all tracks: each written as the frame with
        the CAM overlaid on the face beside the plain frame (both JPEG)."""
        os.makedirs(heatmap_dir, exist_ok=True)
        by_key = {(f.index, f.track): f for f in result.frames}
        for _, track, pos, matrix, cam in sorted(jobs, key=lambda j: -j[0])[:max_heatmaps]:
            frame, face = frames[pos], track.faces[pos]
            heat, plain = overlay(frame.image, cam, matrix, face.box)
            stem = os.path.join(heatmap_dir, f"frame{frame.index:06d}_t{track.id}")
            cv2.imwrite(stem + "_heatmap.jpg", heat[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
            cv2.imwrite(stem + "_frame.jpg", plain[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
            row = by_key[(frame.index, track.id)]
            row.heatmap, row.thumbnail = stem + "_heatmap.jpg", stem + "_frame.jpg"
