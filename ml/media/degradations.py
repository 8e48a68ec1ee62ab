"""Degradations applied to both classes, so a verdict survives re-encoded, resized, dim clips.

All functions take and return H x W x 3 uint8 RGB. OpenCV's codecs expect BGR, so ``jpeg`` converts.

- ``jpeg``: a real JPEG round trip at a quality.
- ``h264_like``: a cheap per-crop stand-in for video compression (down-scale as a video would carry
  the face, 8x8-block quantisation through a low-quality JPEG, deblocking blur). Training uses it;
  evaluation uses the real thing, ``h264_sequence`` (libx264 through ffmpeg at a CRF).
- ``blur``, ``noise``, ``resize`` (down and back up), ``lighting`` (brightness, contrast, gamma).
- ``Degradation.draw`` picks a random chain; applying one draw to every frame of a sequence keeps a clip
  consistent, as a real re-encode would be.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field

import cv2
import numpy as np


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) if ok else img


def resize(img: np.ndarray, factor: float) -> np.ndarray:
    """Down-scale by ``factor`` (< 1) and back: the detail a smaller face in the frame would keep."""
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(8, round(w * factor)), max(8, round(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma) if sigma > 0 else img


def noise(img: np.ndarray, sigma: float, rng: np.random.Generator | None = None) -> np.ndarray:
    rng = rng or np.random.default_rng()
    return np.clip(img.astype(np.float32) + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


def lighting(img: np.ndarray, brightness: float = 1.0, contrast: float = 1.0, gamma: float = 1.0) -> np.ndarray:
    x = img.astype(np.float32) / 255.0
    x = np.power(np.clip(x, 0, 1), gamma)
    x = (x - 0.5) * contrast + 0.5
    return np.clip(x * brightness * 255.0, 0, 255).astype(np.uint8)


def h264_like(img: np.ndarray, scale: float, quality: int, deblock: float = 0.6) -> np.ndarray:
    """Video-compression stand-in: down-scale, block-quantise, up-scale, deblock."""
    out = img
    h, w = img.shape[:2]
    if scale < 1:
        out = cv2.resize(out, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    out = jpeg(out, quality)
    if deblock > 0:
        out = cv2.GaussianBlur(out, (0, 0), deblock)
    if out.shape[:2] != (h, w):
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    return out


def h264_sequence(frames: np.ndarray, crf: int, fps: int = 25, preset: str = "veryfast") -> np.ndarray:
    """T x H x W x 3 uint8 RGB through a real libx264 encode (yuv420p) and decode at ``crf``."""
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("ffmpeg is not installed")
    t, h, w = frames.shape[:3]
    pad_h, pad_w = h + h % 2, w + w % 2
    if (pad_h, pad_w) != (h, w):
        frames = np.pad(frames, ((0, 0), (0, pad_h - h), (0, pad_w - w), (0, 0)), mode="edge")
    enc = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{pad_w}x{pad_h}",
         "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
         "-f", "h264", "-"], input=np.ascontiguousarray(frames).tobytes(), capture_output=True, check=True)
    dec = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "h264", "-i", "-", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        input=enc.stdout, capture_output=True, check=True)
    out = np.frombuffer(dec.stdout, np.uint8).reshape(-1, pad_h, pad_w, 3)[:, :h, :w]
    if len(out) < t:  # never expected; keep the length
        out = np.concatenate([out, np.repeat(out[-1:], t - len(out), 0)])
    return out[:t].copy()


def h264_file(src: str, dst: str, crf: int, height: int | None = None, preset: str = "veryfast") -> None:
    """Re-encode a video file with libx264 at ``crf`` (optionally scaled to ``height``)."""
    vf = ["-vf", f"scale=-2:{height}"] if height else []
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", src, *vf, "-an", "-c:v", "libx264", "-preset", preset,
                    "-crf", str(crf), "-pix_fmt", "yuv420p", dst], check=True, capture_output=True)


@dataclass
class Degradation:
    """One random chain of degradations; ``apply`` is deterministic given the draw."""
    steps: list = field(default_factory=list)  # (name, kwargs)
    seed: int = 0

    @classmethod
    def draw(cls, rng: np.random.Generator, strength: float = 1.0) -> "Degradation":
        steps = []
        p = lambda q: rng.random() < q * strength  # noqa: E731
        if p(0.3):
            steps.append(("lighting", {"brightness": float(rng.uniform(0.65, 1.35)), "contrast": float(rng.uniform(0.75, 1.25)),
                                       "gamma": float(rng.uniform(0.75, 1.3))}))
        if p(0.25):
            steps.append(("blur", {"sigma": float(rng.uniform(0.4, 1.6))}))
        if p(0.35):
            steps.append(("resize", {"factor": float(rng.uniform(0.3, 0.8))}))
        if p(0.2):
            steps.append(("noise", {"sigma": float(rng.uniform(2, 10))}))
        r = rng.random()
        if r < 0.45 * strength:
            steps.append(("h264_like", {"scale": float(rng.uniform(0.35, 1.0)), "quality": int(rng.integers(15, 70)),
                                        "deblock": float(rng.uniform(0, 0.9))}))
        elif r < 0.8 * strength:
            steps.append(("jpeg", {"quality": int(rng.integers(30, 96))}))
        return cls(steps, int(rng.integers(1 << 30)))

    def apply(self, img: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        for name, kw in self.steps:
            img = noise(img, rng=rng, **kw) if name == "noise" else FUNCTIONS[name](img, **kw)
        return img


FUNCTIONS = {"jpeg": jpeg, "resize": resize, "blur": blur, "lighting": lighting, "h264_like": h264_like}


# Fixed conditions of the robustness table (evaluation). On crops, "downscale 360p" is a face the
# size it has in a 360p frame of a 720p-1080p talking head: about 0.4 of the crop's pixels per side.
ROBUSTNESS = {
    "clean": {},
    "h264_crf23": {"crf": 23},
    "h264_crf35": {"crf": 35},
    "jpeg90": {"quality": 90},
    "jpeg50": {"quality": 50},
    "downscale_360p": {},
    "blur": {"sigma": 1.5},
    "noise": {"sigma": 8.0},
    "brightness+30%": {"brightness": 1.3},
    "brightness-30%": {"brightness": 0.7},
}


def perturb_frames(frames: np.ndarray, condition: str, *, crop_scale: float = 0.4, seed: int = 0) -> np.ndarray:
    """Apply a robustness condition to a T x H x W x 3 sequence (crops or whole frames)."""
    kw = ROBUSTNESS[condition]
    if condition == "clean":
        return frames
    if condition.startswith("h264"):
        return h264_sequence(frames, **kw)
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        if condition.startswith("jpeg"):
            out.append(jpeg(f, **kw))
        elif condition == "downscale_360p":
            h = f.shape[0]
            factor = crop_scale if h <= 400 else min(1.0, 360 / h)
            if h > 400:  # a whole frame: really make it 360p
                w = round(f.shape[1] * factor / 2) * 2
                out.append(cv2.resize(f, (w, 360), interpolation=cv2.INTER_AREA))
            else:
                out.append(resize(f, factor))
        elif condition == "blur":
            out.append(blur(f, **kw))
        elif condition == "noise":
            out.append(noise(f, rng=rng, **kw))
        else:
            out.append(lighting(f, **kw))
    return np.stack(out)
