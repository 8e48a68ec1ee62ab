"""Draw a sound's spectrogram as a PNG in the worker (numpy + Pillow, like the heatmaps: no plotting library).

Time runs left to right over the whole clip (so the page can map a click's x to a second), frequency
bottom (0 Hz) to top (8 kHz, log-compressed magnitude on a fixed dark-to-bright colour ramp). The
per-second score strip is drawn by the page and the PDF, not baked in here, so it stays clickable.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

SAMPLE_RATE = 16000
HEIGHT = 128
MIN_WIDTH, MAX_WIDTH, PX_PER_SECOND = 320, 1600, 60
FFT = 512
# A perceptual-ish ramp: near-black blue, purple, orange, pale yellow.
_RAMP = np.array([[8, 8, 32], [60, 15, 110], [160, 40, 110], [240, 110, 40], [252, 240, 170]], dtype=np.float32)


def _colour(values: np.ndarray) -> np.ndarray:
    """values in 0..1 -> RGB uint8 through the ramp."""
    pos = np.clip(values, 0.0, 1.0) * (len(_RAMP) - 1)
    low = np.floor(pos).astype(int)
    high = np.minimum(low + 1, len(_RAMP) - 1)
    frac = (pos - low)[..., None]
    return (_RAMP[low] * (1 - frac) + _RAMP[high] * frac).astype(np.uint8)


def spectrogram_image(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Image.Image:
    """A spectrogram picture of mono float samples; a flat dark strip for silence or an empty array."""
    seconds = samples.size / float(sample_rate) if samples.size else 0.0
    width = int(np.clip(seconds * PX_PER_SECOND, MIN_WIDTH, MAX_WIDTH))
    if samples.size < FFT:
        return Image.fromarray(_colour(np.zeros((HEIGHT, width), dtype=np.float32)))
    hop = max(1, (samples.size - FFT) // max(1, width - 1))
    starts = np.arange(0, samples.size - FFT + 1, hop)[:width]
    window = np.hanning(FFT).astype(np.float32)
    frames = np.stack([samples[s:s + FFT] * window for s in starts])
    magnitude = np.abs(np.fft.rfft(frames, axis=1)).T  # freq x time
    db = 20 * np.log10(magnitude + 1e-6)
    top = max(float(db.max()), -40.0)  # silence stays dark instead of being stretched to full range
    values = (db - (top - 80.0)) / 80.0
    # Fold the FFT bins onto HEIGHT rows, low frequencies at the bottom.
    rows = np.linspace(0, values.shape[0] - 1, HEIGHT).astype(int)
    picture = _colour(values[rows][::-1])
    image = Image.fromarray(picture)
    return image.resize((width, HEIGHT), Image.BILINEAR) if image.width != width else image


def save_spectrogram(samples: np.ndarray, path: str, sample_rate: int = SAMPLE_RATE) -> float:
    """Write the PNG; returns the seconds it spans left to right."""
    spectrogram_image(samples, sample_rate).save(path, format="PNG", compress_level=3)  # optimize=True costs more than the picture
    return samples.size / float(sample_rate)
