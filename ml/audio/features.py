"""The spectral front end: log-mel or LFCC frames of 16 kHz audio, in NumPy (training and workers alike).

25 ms Hann windows every 10 ms (``HOP``); features are centred per band over the analysed stretch
(cepstral mean normalisation), which removes gain and the stationary channel colour of a recording.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft

SR = 16000
N_FFT = 512
WIN = 400
HOP = 160
FRONT_ENDS = {"logmel": 80, "lfcc": 60}  # name -> feature bins


def frames_for(n_samples: int) -> int:
    return 1 + max(n_samples - 1, 0) // HOP


def power_spectrogram(wave: np.ndarray) -> np.ndarray:
    """(frames, N_FFT // 2 + 1) power spectra; frame i is centred on sample i * HOP."""
    wave = np.asarray(wave, dtype=np.float32)
    n = frames_for(len(wave))
    padded = np.pad(wave, (WIN // 2, WIN // 2 + HOP))
    frames = np.lib.stride_tricks.sliding_window_view(padded, WIN)[::HOP][:n] * _window()
    spec = scipy.fft.rfft(frames, n=N_FFT, axis=1, workers=1)  # stays float32, unlike numpy's
    return (spec.real ** 2 + spec.imag ** 2).astype(np.float32)


@lru_cache(maxsize=None)
def _window() -> np.ndarray:
    return np.hanning(WIN + 1)[:WIN].astype(np.float32)


def _triangles(edges_hz: np.ndarray) -> np.ndarray:
    bins = np.linspace(0, SR / 2, N_FFT // 2 + 1)
    bank = np.zeros((len(edges_hz) - 2, len(bins)), np.float32)
    for i in range(len(edges_hz) - 2):
        lo, mid, hi = edges_hz[i:i + 3]
        up = (bins - lo) / max(mid - lo, 1e-6)
        down = (hi - bins) / max(hi - mid, 1e-6)
        bank[i] = np.clip(np.minimum(up, down), 0, None)
    return bank


@lru_cache(maxsize=None)
def mel_bank(n_mels: int = 80, fmin: float = 20.0) -> np.ndarray:
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    inv = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    return _triangles(inv(np.linspace(mel(fmin), mel(SR / 2), n_mels + 2)))


@lru_cache(maxsize=None)
def linear_bank(n_filters: int = 70) -> np.ndarray:
    return _triangles(np.linspace(0, SR / 2, n_filters + 2))


@lru_cache(maxsize=None)
def _dct(n_in: int, n_out: int) -> np.ndarray:
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    basis[0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


def _deltas(x: np.ndarray, width: int = 2) -> np.ndarray:
    """Regression deltas over +-width frames along axis 0."""
    padded = np.pad(x, ((width, width), (0, 0)), mode="edge")
    num = sum(k * (padded[width + k:len(x) + width + k] - padded[width - k:len(x) + width - k])
              for k in range(1, width + 1))
    return num / (2 * sum(k * k for k in range(1, width + 1)))


def log_features(wave: np.ndarray | None, front_end: str = "logmel", power: np.ndarray | None = None) -> np.ndarray:
    """(bins, frames) float32 features before normalisation (from ``power`` when already computed)."""
    power = power_spectrogram(wave) if power is None else power
    if front_end == "logmel":
        return np.log(power @ mel_bank().T + 1e-8).T.astype(np.float32)
    if front_end == "lfcc":
        cep = np.log(power @ linear_bank().T + 1e-8) @ _dct(70, 20).T
        d1 = _deltas(cep)
        return np.concatenate([cep, d1, _deltas(d1)], axis=1).T.astype(np.float32)
    raise ValueError(f"unknown front end {front_end!r}")


def normalise(feats: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Subtract each band's mean over time (over ``weights``' frames, e.g. speech, when given)."""
    if weights is not None and weights.sum() > 0:
        mean = (feats * weights[None, :]).sum(axis=1, keepdims=True) / weights.sum()
    else:
        mean = feats.mean(axis=1, keepdims=True)
    return (feats - mean).astype(np.float32)


def features(wave: np.ndarray, front_end: str = "logmel") -> np.ndarray:
    """The network's input: (bins, frames), normalised."""
    return normalise(log_features(wave, front_end))
