"""``SyncChecker``: does the speaker's mouth move with the speech? One video in, one ``SyncResult`` out.

Steps: probe the file (``ml.media.decode.probe``: type from content, limits); read the soundtrack of
the first ``window_s`` seconds (none: ``no_audio``; too little speech: ``no_speech``); track the face
and measure the mouth opening in every frame (none: ``no_face``); correlate the two per segment
(``ml.sync.correlate``) and turn the average curve's peak into P(out of sync) (``ml.sync.calibration``).
The audio is checked first, so a silent clip costs no face tracking. Any failure is a result with
status ``error`` and a stable ``error_code``, never an exception.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ml import errors
from ml.errors import MediaError
from ml.media.decode import Limits, probe
from ml.sync.calibration import Calibration
from ml.sync.correlate import Curve, curves, mean_curve, peak
from ml.sync.mouth import MouthSignal, mouth_signal
from ml.sync.result import SyncResult
from ml.sync.soundtrack import Soundtrack, band_energy, envelope_at, read_soundtrack, speech_activity

log = logging.getLogger(__name__)

MIN_SPEECH_S = 1.0  # less speech than this in the window: nothing to compare


@dataclass
class Signals:
    """What the correlation needs from one video; kept apart so a caller can shift the audio."""
    mouth: MouthSignal
    sound: Soundtrack


class SyncChecker:
    def __init__(self, *, window_s: float = 15.0, segment_s: float = 3.0, max_offset_s: float = 1.5,
                 max_fps: float = 25.0, side: int = 640, detect_every: int = 5, threads: int = 1,
                 limits: Limits | None = None, calibration: Calibration | None = None):
        self.window_s = window_s
        self.segment_s = segment_s
        self.max_offset_s = max_offset_s
        self.max_fps = max_fps
        self.side = side
        self.detect_every = detect_every
        self.threads = threads
        self.limits = limits or Limits()
        self.calibration = calibration or Calibration.load()

    # -- the whole check ------------------------------------------------------------------------
    def check(self, path: str) -> SyncResult:
        """Judge the video at ``path``; never raises for a bad input."""
        try:
            got = self.signals(path)
            return got if isinstance(got, SyncResult) else self.judge(got)
        except MediaError as exc:
            return self._result("error", error_code=exc.code, error=exc.message)
        except Exception as exc:  # a decoder or the face tools choking on a hostile file
            log.warning("sync check failed on %s: %r", path, exc)
            return self._result("error", error_code=errors.CORRUPT_MEDIA,
                                error="The video or its soundtrack could not be decoded.")

    def signals(self, path: str) -> Signals | SyncResult:
        """The soundtrack and mouth signal of the analysed window, or a final result (no audio,
        no speech, no face) when there is nothing to correlate. May raise ``MediaError``."""
        info = probe(path, self.limits)
        if info.kind != "video":
            return self._result("no_audio", error="A still image has no soundtrack to compare.")
        sound = read_soundtrack(path, seconds=self.window_s + self.max_offset_s, threads=self.threads)
        if sound is None or len(sound.samples) == 0:
            return self._result("no_audio", error="The video has no soundtrack.")
        speech_s = float(speech_activity(band_energy(sound)).sum()) * 0.01
        if speech_s < MIN_SPEECH_S:
            return self._result("no_speech", error="The soundtrack has no speech to compare with the lips.",
                                speech_s=speech_s)
        mouth = mouth_signal(path, self.window_s, max_fps=self.max_fps, side=self.side,
                             detect_every=self.detect_every, threads=self.threads)
        if mouth.face_share == 0.0:
            return self._result("no_face", error="No face was found in the first seconds of the video.",
                                speech_s=speech_s, face_share=0.0)
        return Signals(mouth, sound)

    # -- scoring ------------------------------------------------------------------------------------
    def curves(self, signals: Signals, audio_shift_s: float = 0.0) -> tuple[list[Curve], np.ndarray]:
        """Per-segment correlation curves, with the audio played ``audio_shift_s`` later (tests and
        evaluation shift it in memory), and the per-frame speech mask."""
        sound = signals.sound.shifted(audio_shift_s) if audio_shift_s else signals.sound
        power = band_energy(sound)
        mouth = signals.mouth
        envelope = envelope_at(power, mouth.times, mouth.fps)
        active = speech_activity(power)
        hop_index = np.clip((mouth.times * 100).astype(int), 0, max(len(active) - 1, 0))
        speech = active[hop_index] if len(active) else np.zeros(len(mouth.times), dtype=bool)
        found = curves(mouth.opening, envelope, speech, mouth.fps, segment_s=self.segment_s,
                       max_offset_s=self.max_offset_s)
        return found, speech

    def judge(self, signals: Signals, audio_shift_s: float = 0.0) -> SyncResult:
        """The result for already-read signals."""
        found, speech = self.curves(signals, audio_shift_s)
        mouth = signals.mouth
        common = {"seconds_analysed": float(len(mouth.times) / max(mouth.fps, 1e-3)),
                  "face_share": mouth.face_share, "speech_s": float(speech.sum() / max(mouth.fps, 1e-3))}
        if not found:
            if mouth.face_share < 0.5:
                return self._result("no_face", error="The face is not visible while there is speech.", **common)
            return self._result("no_speech", error="There is too little speech while the face is visible.",
                                **common)
        offsets = found[0].offsets
        clip = peak(offsets, mean_curve(found))
        if clip is None:
            return self._result("no_speech", error="There is too little speech while the face is visible.",
                                **common)
        segments = []
        for c in found:
            p = peak(c.offsets, c.corr)
            segments.append({
                "start": c.start, "end": c.end,
                "offset_s": None if p is None else p.offset_s,
                "confidence": None if p is None else p.confidence,
                "score": None if p is None else self.calibration.probability(p),
            })
        return self._result("ok", score=self.calibration.probability(clip), offset_s=clip.offset_s,
                            segments=segments, confidence=clip.confidence, correlation=clip.at_zero, **common)

    def _result(self, status: str, **fields) -> SyncResult:
        return SyncResult(status=status, threshold=self.calibration.threshold,
                          method_version=self.calibration.method_version, **fields)
