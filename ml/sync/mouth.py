"""How far the speaker's mouth is open, frame by frame, over the first seconds of a video.

Frames are decoded in order (no seeking) with PyAV, at most ``max_fps`` per second, converted straight
to small grey pictures (640 px) by FFmpeg's scaler (the face tools need no colour), and passed to the
project's own face pipeline (``ml.media.faces.FaceFinder``: dlib HOG on every 10th frame at 320 px, again at 640 px
when that finds nothing, IoU tracks, 68 landmarks in every frame). The mouth opening is the mean gap between the inner lips (landmark pairs 61-67, 62-66,
63-65) plus that between the outer lips (50-58, 51-57, 52-56), divided by the distance between the
eye centres, so it does not change with the face's size; the mouth's width is measured too.
The face followed is the track present in most key frames (ties: the larger face); only it gets
landmarks.
"""
from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

# _link and _fill are FaceFinder.track's own linking and interpolation, reused for one track.
from ml.media.faces import Box, FaceFinder, _fill, _link

INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
OUTER_LIP_PAIRS = ((50, 58), (51, 57), (52, 56))
MEASURES = ("inner", "outer", "width", "dark", "mean")  # columns of MouthSignal.measures


@dataclass
class MouthSignal:
    times: np.ndarray  # seconds from the first frame, one per kept frame
    measures: np.ndarray  # frames x MEASURES, each / eye distance; NaN rows where no face was tracked
    fps: float  # frames per second of ``times`` (after thinning)
    face_px: float  # median eye distance in source pixels (how large the face is)

    @property
    def face_share(self) -> float:
        return float(np.mean(np.isfinite(self.measures[:, 0]))) if len(self.measures) else 0.0


def read_frames(path: str, seconds: float, max_fps: float = 25.0, side: int = 640,
                threads: int = 1) -> tuple[list[np.ndarray], np.ndarray, float, float]:
    """Grey frames of the first ``seconds`` (long side at most ``side``), their times, the kept frame
    rate and the scale from source pixels to these pictures."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = threads
        rate = float(stream.average_rate or stream.guessed_rate or 25.0)
        step = max(1, int(round(rate / max_fps)))
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        width, height = stream.codec_context.width, stream.codec_context.height
        scale = min(1.0, side / max(width, height, 1))
        size = (max(2, int(round(width * scale)) // 2 * 2), max(2, int(round(height * scale)) // 2 * 2))
        frames, times = [], []
        for index, frame in enumerate(container.decode(stream)):
            t = (float(frame.time) - start) if frame.time is not None else index / rate
            if t >= seconds:
                break
            if index % step:
                continue
            grey = frame.reformat(width=size[0], height=size[1], format="gray").to_ndarray()
            rotation = int(getattr(frame, "rotation", 0) or 0) % 360
            if rotation:
                grey = np.ascontiguousarray(np.rot90(grey, k=rotation // 90))
            frames.append(np.ascontiguousarray(grey))
            times.append(t)
    return frames, np.asarray(times, dtype=np.float64), rate / step, scale


def mouth_measures(landmarks: np.ndarray) -> tuple[list[float], float]:
    """([inner-lip gap, outer-lip gap, mouth width] / eye distance, eye distance) from 68 landmarks."""
    eyes = max(float(np.linalg.norm(landmarks[36:42].mean(axis=0) - landmarks[42:48].mean(axis=0))), 1e-3)
    inner = np.mean([np.linalg.norm(landmarks[a] - landmarks[b]) for a, b in INNER_LIP_PAIRS])
    outer = np.mean([np.linalg.norm(landmarks[a] - landmarks[b]) for a, b in OUTER_LIP_PAIRS])
    width = np.linalg.norm(landmarks[48] - landmarks[54])
    return [float(inner / eyes), float(outer / eyes), float(width / eyes)], eyes


def mouth_appearance(grey: np.ndarray, landmarks: np.ndarray, eyes: float) -> list[float]:
    """[share of dark pixels, mean brightness] in a fixed-size box on the mouth (0.9 x 0.6 eye
    distances), dark meaning under half the face's median brightness: the open mouth's cavity. Less
    jittery than the landmarks, which a blurry or small mouth moves by whole pixels."""
    cx, cy = landmarks[48:68].mean(axis=0)
    hw, hh = 0.45 * eyes, 0.3 * eyes
    h, w = grey.shape[:2]
    box = grey[max(0, int(cy - hh)):min(h, int(cy + hh) + 1), max(0, int(cx - hw)):min(w, int(cx + hw) + 1)]
    x0, y0 = np.maximum(landmarks.min(axis=0), 0).astype(int)
    x1, y1 = landmarks.max(axis=0).astype(int)
    face = grey[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]
    if box.size == 0 or face.size == 0:
        return [np.nan, np.nan]
    reference = max(float(np.median(face)), 1.0)
    return [float(np.mean(box < 0.5 * reference)), float(box.mean() / reference)]


def main_track(finder: FaceFinder, frames: list[np.ndarray]) -> dict[int, Box]:
    """Boxes of the main face per frame position: ``FaceFinder``'s key-frame detection and IoU
    linking, then the track seen in most key frames (ties: the larger face), interpolated between
    them. Only this track gets landmarks, unlike ``FaceFinder.track``, which marks every face."""
    n = len(frames)
    keys = sorted(set(range(0, n, finder.detect_every)) | {n - 1})
    detections = {k: finder.detect(frames[k]) for k in keys}
    if not any(detections.values()) and finder.fallback_side > finder.detect_side:  # small faces
        detections = {k: finder.detect(frames[k], side=finder.fallback_side) for k in keys}
    if not any(detections.values()):
        return {}
    tracks = _link(detections)

    def rank(track: dict[int, Box]) -> tuple[int, float]:
        return len(track), float(np.median([b[2] - b[0] for b in track.values()]))

    return _fill(max(tracks, key=rank), n)


def mouth_signal(path: str, seconds: float = 15.0, *, max_fps: float = 25.0, side: int = 640,
                 detect_side: int = 320, detect_every: int = 10, threads: int = 1,
                 finder: FaceFinder | None = None) -> MouthSignal:
    """Mouth opening per kept frame over the first ``seconds`` of the video at ``path``."""
    frames, times, fps, scale = read_frames(path, seconds, max_fps=max_fps, side=side, threads=threads)
    measures = np.full((len(frames), len(MEASURES)), np.nan)
    eye_px = []
    if frames:
        finder = finder or FaceFinder(detect_side=detect_side, fallback_side=side, detect_every=detect_every)
        for pos, box in main_track(finder, frames).items():
            landmarks = finder.landmarks(frames[pos], box)
            shape, eyes = mouth_measures(landmarks)
            measures[pos] = shape + mouth_appearance(frames[pos], landmarks, eyes)
            eye_px.append(eyes / scale)
    return MouthSignal(times, measures, fps, float(np.median(eye_px)) if eye_px else 0.0)
