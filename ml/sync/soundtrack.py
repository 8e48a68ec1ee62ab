"""Read a video's soundtrack onto the video's timeline and turn it into a speech envelope.

The soundtrack is decoded with PyAV (FFmpeg), mixed to mono and resampled to 16 kHz. Sample 0 of the
returned waveform is the instant of the video stream's first frame, so an audio stream that starts
late (an ``-itsoffset`` edit, a muxer delay) is padded with silence and one that starts early is trimmed:
a real offset between the streams is kept, never hidden.

The envelope is the log energy in four bands (``ENVELOPE_BANDS``) averaged over each video frame's
interval; a simple energy activity detector on the speech band (300-3,000 Hz) says where speech is.
"""
from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

RATE = 16_000
HOP = 160  # 10 ms analysis hop
WINDOW = 512  # 32 ms analysis window
BAND_HZ = (300.0, 3000.0)  # speech activity is judged in this band
# The envelope's bands: voicing (a closed mouth hums here too), vowels' first formants, the second
# formants, and fricatives. The sync check combines them with learned weights (``calibration.json``).
ENVELOPE_BANDS = ((80.0, 300.0), (300.0, 1000.0), (1000.0, 3000.0), (3000.0, 7500.0))


@dataclass
class Soundtrack:
    samples: np.ndarray  # float32 mono, RATE Hz, sample 0 = the video's first frame
    rate: int = RATE

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    def shifted(self, seconds: float) -> "Soundtrack":
        """The same sound played ``seconds`` later (negative: earlier), the gap filled with silence."""
        n = int(round(abs(seconds) * self.rate))
        if n == 0:
            return Soundtrack(self.samples.copy(), self.rate)
        pad = np.zeros(n, dtype=np.float32)
        if seconds > 0:
            samples = np.concatenate([pad, self.samples])[: len(self.samples)]
        else:
            samples = np.concatenate([self.samples[n:], pad])
        return Soundtrack(samples, self.rate)


def has_audio(path: str) -> bool:
    """Whether the container holds an audio stream (it may still be silent)."""
    with av.open(path) as container:
        return bool(container.streams.audio)


def read_soundtrack(path: str, seconds: float | None = None, threads: int = 1) -> Soundtrack | None:
    """The first ``seconds`` of the soundtrack (all of it if None), or None without an audio stream."""
    with av.open(path) as container:
        if not container.streams.audio:
            return None
        audio = container.streams.audio[0]
        audio.thread_count = threads
        video_start = 0.0
        if container.streams.video:
            video = container.streams.video[0]
            if video.start_time is not None:
                video_start = float(video.start_time * video.time_base)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks: list[np.ndarray] = []
        first_time: float | None = None
        total = 0
        limit = None if seconds is None else int((seconds + 1.0) * RATE)
        for frame in container.decode(audio):
            if first_time is None and frame.time is not None:
                first_time = float(frame.time)
            for out in resampler.resample(frame):
                chunk = out.to_ndarray().reshape(-1).astype(np.float32)
                chunks.append(chunk)
                total += len(chunk)
            if limit is not None and total >= limit:
                break
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1).astype(np.float32))
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    lead = (first_time or 0.0) - video_start  # > 0: the audio starts after the first frame
    n = int(round(abs(lead) * RATE))
    if lead > 0:
        samples = np.concatenate([np.zeros(n, dtype=np.float32), samples])
    elif n:
        samples = samples[n:]
    if seconds is not None:
        samples = samples[: int(seconds * RATE)]
    return Soundtrack(np.ascontiguousarray(samples, dtype=np.float32))


def band_powers(track: Soundtrack, bands=(BAND_HZ,)) -> np.ndarray:
    """Power in each band every 10 ms (hops x bands, linear; hop i covers samples
    ``[i*HOP, i*HOP+WINDOW)``), from one short-time Fourier transform."""
    x = track.samples
    if len(x) < WINDOW:
        return np.zeros((0, len(bands)), dtype=np.float64)
    count = 1 + (len(x) - WINDOW) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW)[::HOP][:count]
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(WINDOW).astype(np.float32), axis=1)) ** 2
    freqs = np.fft.rfftfreq(WINDOW, 1.0 / track.rate)
    columns = [spectrum[:, (freqs >= lo) & (freqs <= hi)].sum(axis=1) for lo, hi in bands]
    return np.stack(columns, axis=1).astype(np.float64) / WINDOW


def band_energy(track: Soundtrack) -> np.ndarray:
    """Speech-band (``BAND_HZ``) power every 10 ms."""
    return band_powers(track)[:, 0]


def to_db(power: np.ndarray) -> np.ndarray:
    """Power in dB relative to full scale, floored at -100 dB."""
    return 10.0 * np.log10(np.maximum(power, 1e-10))


def speech_activity(power: np.ndarray, *, floor_db: float = -65.0, below_peak_db: float = 35.0,
                    above_noise_db: float = 9.0) -> np.ndarray:
    """Boolean per 10 ms: speech-band energy well above the clip's noise floor, within reach of its
    loud parts, and above an absolute floor (digital silence, hum). Music is not told apart here."""
    if len(power) == 0:
        return np.zeros(0, dtype=bool)
    db = to_db(power)
    sound = db > -90.0  # digital silence (padding, a muted start) must not set the noise floor
    if not sound.any():
        return np.zeros(len(power), dtype=bool)
    loud = np.percentile(db[sound], 95)
    noise = np.percentile(db[sound], 10)
    threshold = max(floor_db, loud - below_peak_db, noise + above_noise_db)
    active = db > threshold
    # Close gaps shorter than 200 ms (pauses between syllables) and drop blips shorter than 100 ms.
    active = _close(active, 20)
    return _open(active, 10)


def envelope_at(power: np.ndarray, times: np.ndarray, fps: float) -> np.ndarray:
    """Log speech-band energy averaged over each video frame's interval (``times`` in seconds)."""
    if len(power) == 0:
        return np.full(len(times), np.nan)
    centres = (np.arange(len(power)) * HOP + WINDOW / 2) / RATE
    cumulative = np.concatenate([[0.0], np.cumsum(power)])
    lo = np.searchsorted(centres, times - 0.5 / fps)
    hi = np.searchsorted(centres, times + 0.5 / fps)
    hi = np.maximum(hi, lo + 1)
    inside = hi <= len(power)
    mean = np.full(len(times), np.nan)
    mean[inside] = (cumulative[hi[inside]] - cumulative[lo[inside]]) / (hi[inside] - lo[inside])
    floor = np.percentile(power, 95) * 1e-5 + 1e-10  # 50 dB below the loud parts: silence is flat
    return np.log10(np.maximum(mean, floor))


def _close(mask: np.ndarray, gap: int) -> np.ndarray:
    out = mask.copy()
    idx = np.flatnonzero(mask)
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= gap:
            out[a:b] = True
    return out


def _open(mask: np.ndarray, length: int) -> np.ndarray:
    out = mask.copy()
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        if end - start < length:
            out[start:end] = False
    return out
