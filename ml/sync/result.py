"""What a lip-sync check returns (``SyncResult``), in the shape the portal stores and shows."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

STATUSES = ("ok", "no_face", "no_speech", "no_audio", "error")


@dataclass
class SyncResult:
    status: str  # one of STATUSES
    score: float | None = None  # calibrated P(out of sync / lip-synced), None unless ok
    offset_s: float | None = None  # best audio-video offset (seconds; +: audio late)
    segments: list[dict] = field(default_factory=list)  # [{"start","end","offset_s","confidence","score"}]
    threshold: float = 0.5
    method_version: str = ""
    confidence: float | None = None  # clip peak over the median correlation (SyncNet's measure)
    correlation: float | None = None  # clip's best correlation within 0.1 s of zero offset
    error_code: str | None = None  # stable code when status is "error" (ml.errors)
    error: str | None = None  # a sentence for people when status is not "ok"
    seconds_analysed: float = 0.0  # seconds of video compared
    face_share: float | None = None  # share of analysed frames with a tracked face
    speech_s: float | None = None  # seconds of speech in the analysed window

    @property
    def flagged(self) -> bool:
        return self.status == "ok" and self.score is not None and self.score >= self.threshold

    def to_dict(self) -> dict:
        """JSON-friendly: floats rounded, NaN as None."""
        return _clean(asdict(self))


def _clean(value):
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 4)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value
