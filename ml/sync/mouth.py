"""How far the speaker's mouth is open, frame by frame, over the first seconds of a video.

Frames are decoded in order (no seeking) with PyAV, at most ``max_fps`` per second, converted straight
to small grey pictures by FFmpeg's scaler (the face tools need no colour), and passed to the project's
own face pipeline (``ml.media.faces.FaceFinder``: dlib HOG on key frames, IoU tracks, 68 landmarks in
every frame). The mouth opening is the mean gap between the inner lips (landmark pairs 61-67, 62-66,
63-65) divided by the distance between the eye centres, so it does not change with the face's size.
The track followed is the one present in most frames (ties: the larger face).
"""
from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from ml.media.faces import FaceFinder, Track

INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))


@dataclass
class MouthSignal:
    times: np.ndarray  # seconds from the first frame, one per kept frame
    opening: np.ndarray  # inner-lip gap / eye distance; NaN where no face was tracked
    fps: float  # frames per second of ``times`` (after thinning)
    face_px: float  # median eye distance in source pixels (how large the face is)

    @property
    def face_share(self) -> float:
        return float(np.mean(np.isfinite(self.opening))) if len(self.opening) else 0.0


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


def mouth_opening(landmarks: np.ndarray) -> tuple[float, float]:
    """(inner-lip gap / eye distance, eye distance) from 68 dlib landmarks."""
    eyes = np.linalg.norm(landmarks[36:42].mean(axis=0) - landmarks[42:48].mean(axis=0))
    gap = np.mean([np.linalg.norm(landmarks[a] - landmarks[b]) for a, b in INNER_LIP_PAIRS])
    return float(gap / max(eyes, 1e-3)), float(eyes)


def main_track(tracks: list[Track]) -> Track | None:
    """The track present in most frames; ties go to the larger face."""
    if not tracks:
        return None

    def size(track: Track) -> float:
        return float(np.median([f.box[2] - f.box[0] for f in track.faces.values()]))

    return max(tracks, key=lambda t: (len(t.faces), size(t)))


def mouth_signal(path: str, seconds: float = 15.0, *, max_fps: float = 25.0, side: int = 640,
                 detect_every: int = 5, threads: int = 1, finder: FaceFinder | None = None) -> MouthSignal:
    """Mouth opening per kept frame over the first ``seconds`` of the video at ``path``."""
    frames, times, fps, scale = read_frames(path, seconds, max_fps=max_fps, side=side, threads=threads)
    opening = np.full(len(frames), np.nan)
    eye_px = []
    if frames:
        finder = finder or FaceFinder(detect_side=side, fallback_side=side, detect_every=detect_every)
        track = main_track(finder.track(frames))
        if track is not None:
            for pos, face in track.faces.items():
                opening[pos], eyes = mouth_opening(face.landmarks)
                eye_px.append(eyes / scale)
    return MouthSignal(times, opening, fps, float(np.median(eye_px)) if eye_px else 0.0)
