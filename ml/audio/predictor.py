"""``VoicePredictor``: an audio file or a video's sound track in, a calibrated synthetic-speech score out.

Decode (``ml.audio.decode``) -> voice activity (``ml.audio.vad``) -> features (``ml.audio.features``) ->
ONNX Runtime frame logits -> clip logit (mean over speech frames) and per-second logits -> the card's
calibration. Never imports torch. Failures are statuses with stable codes, never exceptions or a guess.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ml import errors
from ml.audio import vad
from ml.audio.decode import load_audio
from ml.audio.features import log_features, normalise, power_spectrogram
from ml.errors import MediaError
from ml.paths import WEIGHTS_DIR

DEFAULT_ONNX = WEIGHTS_DIR / "voice.onnx"
CHUNK_FRAMES = 3000  # 30 s of features per forward pass keeps memory flat on long files
MIN_SECOND_SPEECH = 0.2  # a second with less speech than this share gets no score


@dataclass
class VoicePrediction:
    path: str
    status: str  # "ok" | "no_speech" | "no_audio" | "error"
    score: float | None = None  # calibrated P(synthetic) for the clip's speech
    logit: float | None = None  # the network's clip logit before calibration
    threshold: float = 0.5
    model_version: str = ""
    error_code: str | None = None
    error: str | None = None
    duration_s: float = 0.0
    speech_s: float = 0.0
    seconds: list[dict] = field(default_factory=list)
    source: str | None = None  # "audio" or "video" (a video's sound track)
    input_rate: int | None = None
    elapsed_s: float = 0.0

    @property
    def label(self) -> str | None:
        if self.score is None:
            return None
        return "synthetic" if self.score >= self.threshold else "real"

    def to_dict(self) -> dict:
        return {**asdict(self), "label": self.label}


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 60.0), -60.0)))


class VoicePredictor:
    def __init__(self, session, card: dict):
        self.session = session
        self.card = card
        pre = card["preprocessing"]
        self.front_end = pre["front_end"]
        self.stride = int(pre["time_stride"])
        self.threshold = float(card.get("threshold", 0.5))
        self.version = str(card.get("version", "unknown"))
        cal = card.get("calibration") or {}
        self.a, self.b = float(cal.get("a", 1.0)), float(cal.get("b", 0.0))

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, threads: int | None = None) -> "VoicePredictor":
        import onnxruntime as ort

        path = Path(path or os.environ.get("VOICE_ONNX") or DEFAULT_ONNX)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or int(os.environ.get("DETECTOR_THREADS") or 0) or 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        card = json.loads(session.get_modelmeta().custom_metadata_map["card"])
        return cls(session, card)

    def calibrate(self, logit: float) -> float:
        return _sigmoid(self.a * logit + self.b)

    def frame_logits(self, feats: np.ndarray) -> np.ndarray:
        """Logits per feature frame (each network step repeated over its ``stride`` frames)."""
        out = []
        for start in range(0, feats.shape[1], CHUNK_FRAMES):
            chunk = feats[:, start:start + CHUNK_FRAMES]
            if chunk.shape[1] < 4 * self.stride:  # too short for the network: pad by repeating
                chunk = np.tile(chunk, (1, math.ceil(4 * self.stride / chunk.shape[1])))[:, : 4 * self.stride]
            steps = self.session.run(None, {"features": chunk[None, None].astype(np.float32)})[0][0]
            out.append(np.repeat(steps, self.stride))
        logits = np.concatenate(out)
        n = feats.shape[1]
        return np.pad(logits, (0, max(0, n - len(logits))), mode="edge")[:n]

    def predict(self, path: str | os.PathLike, limits=None) -> VoicePrediction:
        start = time.perf_counter()
        result = VoicePrediction(str(path), "error", threshold=self.threshold, model_version=self.version)
        try:
            clip = load_audio(path, limits)
        except MediaError as exc:
            result.status = "no_audio" if exc.code == errors.NO_AUDIO else "error"
            result.error_code, result.error = exc.code, exc.message
            result.elapsed_s = time.perf_counter() - start
            return result
        result.source, result.input_rate, result.duration_s = clip.source, clip.input_rate, clip.duration_s
        self.analyse(clip.samples, result)
        result.elapsed_s = time.perf_counter() - start
        return result

    def analyse(self, samples: np.ndarray, result: VoicePrediction) -> VoicePrediction:
        """Score decoded 16 kHz samples into ``result`` (used by ``predict`` and by the evaluation)."""
        activity, feats = prepare(samples, self.front_end)
        voiced = activity.voiced
        result.speech_s = activity.speech_s
        windows = vad.seconds(len(voiced))
        if result.speech_s < vad.MIN_SPEECH_S:
            result.status, result.error_code = "no_speech", errors.NO_SPEECH
            result.error = (f"Only {result.speech_s:.1f} s of the {result.duration_s:.1f} s sound like speech "
                            "(silence, music or noise); there is no voice to judge.")
            result.seconds = [{"start": s, "end": e, "speech": round(float(voiced[sl].mean()), 3), "score": None}
                              for s, e, sl in windows]
            return result
        logits = self.frame_logits(feats)
        result.logit = float(logits[voiced].mean())
        result.score = self.calibrate(result.logit)
        result.status = "ok"
        result.seconds = []
        for s, e, sl in windows:
            share = float(voiced[sl].mean())
            score = self.calibrate(float(logits[sl][voiced[sl]].mean())) if share >= MIN_SECOND_SPEECH else None
            result.seconds.append({"start": s, "end": e, "speech": round(share, 3),
                                   "score": None if score is None else round(score, 4)})
        return result


def prepare(samples: np.ndarray, front_end: str) -> tuple[vad.Activity, np.ndarray]:
    """Voice activity and the network's input (normalised over speech) from one STFT of the clip."""
    power = power_spectrogram(samples)
    activity = vad.detect(samples, power)
    weights = activity.voiced.astype(np.float32)
    return activity, normalise(log_features(None, front_end, power=power), weights)
