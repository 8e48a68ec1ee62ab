"""Where speech is: an energy voice-activity step on 10 ms frames, and per-second windows.

A frame is speech when its 100-4,000 Hz energy is well above the clip's noise floor, not far below its
loudest frames, above an absolute floor, and the level around it moves the way syllables do (steady tones
and hum are not speech). Music with a beat can still pass: this is a level detector, not a speech
recogniser; the per-second ``speech`` share says how much of each second it took for speech.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_closing, binary_opening

from ml.audio.features import HOP, N_FFT, SR, power_spectrogram

FRAMES_PER_SECOND = SR // HOP  # 100
ABS_FLOOR_DB = -60.0  # dBFS-ish band energy under which nothing counts
ABOVE_FLOOR_DB = 12.0
BELOW_PEAK_DB = 35.0
MIN_MOVEMENT_DB = 3.0  # std of the band level over ~0.5 s; steady tones stay under it
MIN_SPEECH_S = 0.5  # less voiced audio than this in a clip gives status no_speech


@dataclass
class Activity:
    voiced: np.ndarray  # bool per 10 ms frame
    level_db: np.ndarray  # band level per frame

    @property
    def speech_s(self) -> float:
        return float(self.voiced.sum()) / FRAMES_PER_SECOND


def band_level_db(power: np.ndarray, lo: float = 100.0, hi: float = 4000.0) -> np.ndarray:
    freqs = np.linspace(0, SR / 2, N_FFT // 2 + 1)
    band = power[:, (freqs >= lo) & (freqs <= hi)].sum(axis=1)
    return 10 * np.log10(band / (N_FFT * N_FFT / 4) + 1e-12)


def _moving_std(x: np.ndarray, width: int) -> np.ndarray:
    pad = np.pad(x.astype(np.float64), (width // 2, width - width // 2 - 1), mode="edge")
    c1 = np.concatenate([[0.0], np.cumsum(pad)])
    c2 = np.concatenate([[0.0], np.cumsum(pad * pad)])
    mean = (c1[width:] - c1[:-width]) / width
    return np.sqrt(np.maximum((c2[width:] - c2[:-width]) / width - mean * mean, 0.0))


def detect(wave: np.ndarray, power: np.ndarray | None = None) -> Activity:
    """Voiced frames of a 16 kHz clip (``power``: its power spectrogram, when already computed)."""
    power = power_spectrogram(wave) if power is None else power
    level = band_level_db(power)
    if level.size == 0:
        return Activity(np.zeros(0, bool), level)
    floor = float(np.percentile(level, 10))
    peak = float(np.percentile(level, 99))
    threshold = max(floor + ABOVE_FLOOR_DB, peak - BELOW_PEAK_DB, ABS_FLOOR_DB)
    loud = level > threshold
    voiced = loud & (_moving_std(level, 50) > MIN_MOVEMENT_DB)
    # close gaps shorter than 0.2 s, drop blips shorter than 0.1 s
    voiced = binary_closing(voiced, np.ones(21, bool), border_value=0) | voiced
    voiced = binary_opening(voiced, np.ones(10, bool))
    return Activity(voiced & (level > ABS_FLOOR_DB), level)


def seconds(n_frames: int) -> list[tuple[float, float, slice]]:
    """Per-second windows (the last one may be shorter) as (start_s, end_s, frame slice)."""
    out = []
    for start in range(0, n_frames, FRAMES_PER_SECOND):
        stop = min(start + FRAMES_PER_SECOND, n_frames)
        out.append((start / FRAMES_PER_SECOND, stop / FRAMES_PER_SECOND, slice(start, stop)))
    return out
