"""Degradations of 16 kHz mono speech: codecs through ffmpeg, the telephone band, noise, gain, reverberation.

Used alike on both labels in training (``ml.audio.data`` caches the codec copies) and by the evaluation's
robustness rows, so a degradation means the same thing in both places.
"""
from __future__ import annotations

import subprocess

import numpy as np

SR = 16000

# codec name -> (ffmpeg encoder, muxer and demuxer for the pipe)
CODECS = {
    "mp3": ("libmp3lame", "mp3", "mp3"),
    "aac": ("aac", "adts", "aac"),
    "opus": ("libopus", "ogg", "ogg"),
}


def _ffmpeg(args: list[str], data: bytes, timeout: float = 60.0) -> bytes:
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", *args],
                          input=data, capture_output=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {proc.stderr.decode(errors='replace')[-300:]}")
    return proc.stdout


def codec(wave: np.ndarray, name: str, kbps: int) -> np.ndarray:
    """Encode ``wave`` (16 kHz float32) with codec ``name`` at ``kbps`` and decode it back to 16 kHz."""
    encoder, muxer, demuxer = CODECS[name]
    raw = np.clip(wave, -1.0, 1.0).astype("<f4").tobytes()
    encoded = _ffmpeg(["-f", "f32le", "-ar", str(SR), "-ac", "1", "-i", "pipe:0",
                       "-c:a", encoder, "-b:a", f"{kbps}k", "-f", muxer, "pipe:1"], raw)
    decoded = _ffmpeg(["-f", demuxer, "-i", "pipe:0", "-f", "f32le", "-ar", str(SR), "-ac", "1", "pipe:1"], encoded)
    out = np.frombuffer(decoded, dtype="<f4").astype(np.float32)
    return _align(out[_delay(wave, out):], len(wave))


def _delay(ref: np.ndarray, out: np.ndarray, max_lag: int = 4096) -> int:
    """The codec's delay in samples (encoders prime with silence), by cross-correlation of the first 4 s."""
    n = min(len(ref), len(out), 4 * SR)
    if n < 2 * max_lag:
        return 0
    size = 1 << int(np.ceil(np.log2(n + max_lag)))
    corr = np.fft.irfft(np.fft.rfft(out[: n], size) * np.conj(np.fft.rfft(ref[: n], size)), size)
    return int(np.argmax(corr[:max_lag]))


def _align(out: np.ndarray, n: int) -> np.ndarray:
    """Keep the original length (pad with zeros if short)."""
    if len(out) >= n:
        return out[:n].copy()
    return np.concatenate([out, np.zeros(n - len(out), np.float32)])


def phone_band(wave: np.ndarray, mu_law: bool = False) -> np.ndarray:
    """Telephone channel: 300-3,400 Hz band, 8 kHz sampling (and optionally 8-bit mu-law), back to 16 kHz."""
    from scipy.signal import butter, resample_poly, sosfiltfilt

    narrow = resample_poly(wave.astype(np.float64), 1, 2)
    sos = butter(6, [300, 3400], btype="bandpass", fs=8000, output="sos")
    narrow = sosfiltfilt(sos, narrow)
    if mu_law:
        mu = 255.0
        x = np.clip(narrow, -1, 1)
        y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
        y = np.round(y * 127) / 127
        narrow = np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu
    return _align(resample_poly(narrow, 2, 1).astype(np.float32), len(wave))


def add_noise(wave: np.ndarray, snr_db: float, rng: np.random.Generator, colour: str = "white") -> np.ndarray:
    """Add white or pink noise at ``snr_db`` relative to the clip's mean power."""
    noise = rng.standard_normal(len(wave)).astype(np.float32)
    if colour == "pink":
        spectrum = np.fft.rfft(noise)
        spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
        noise = np.fft.irfft(spectrum, n=len(wave)).astype(np.float32)
    p_signal = float(np.mean(wave ** 2)) + 1e-10
    p_noise = float(np.mean(noise ** 2)) + 1e-12
    return wave + noise * np.sqrt(p_signal / (p_noise * 10 ** (snr_db / 10)))


def reverb(wave: np.ndarray, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: exponentially decaying noise as the impulse response (direct path kept)."""
    from scipy.signal import fftconvolve

    n = int(SR * rt60)
    t = np.arange(n) / SR
    rir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60) * 0.3
    rir[0] = 1.0
    out = fftconvolve(wave, rir)[: len(wave)]
    return (out * (np.sqrt(np.mean(wave ** 2) + 1e-10) / np.sqrt(np.mean(out ** 2) + 1e-10))).astype(np.float32)


def gain(wave: np.ndarray, db: float) -> np.ndarray:
    return np.clip(wave * 10 ** (db / 20), -1.0, 1.0).astype(np.float32)
