"""What the Predictor returns: plain dataclasses, JSON-friendly."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class AnalysedFrame:
    index: int  # frame index in the source (0 for an image)
    time: float  # seconds from the start
    box: tuple[int, int, int, int]  # face box x0, y0, x1, y1 in source pixels
    score: float  # probability that this face in this frame is fake
    track: int = 0  # which face track (several people -> several tracks)
    heatmap: str | None = None  # JPEG: the frame with the Grad-CAM overlay on the face
    thumbnail: str | None = None  # JPEG: the plain frame, same size as the heatmap


@dataclass
class Prediction:
    path: str
    kind: str  # "video" | "image"
    status: str  # "ok" | "no_face" | "error"
    score: float | None  # clip probability of fake (highest face track)
    label: str | None  # "fake" | "real" | None
    threshold: float
    model_version: str
    frames: list[AnalysedFrame] = field(default_factory=list)
    faces_found: int = 0
    tracks: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    error_code: str | None = None
    error: str | None = None
    # How the clip score was made, so a reader can check it: {"rule": str, "frame_mean": float,
    # "topk_mean": float, "temporal": float | None, "frames_above": int, "frames": int}, calibrated like
    # the score; None for images and failed analyses.
    clip_parts: dict | None = None
    # The tamper check (ml.inference.tamper.TamperCheck.check): {"fired", "rise", "threshold", "changes",
    # "crops", "seconds"}; None when it was not run (score on the fake side, or no threshold for the model).
    tamper: dict | None = None

    @property
    def seconds(self) -> float:
        return round(sum(self.timings.values()), 4)

    def to_dict(self) -> dict:
        return asdict(self)
