"""The running score and rolling verdict of a live session, from its frames' scores over time. No I/O.

A single frame's score is noisy (one blink, one blurred frame), so the page shows the mean of the last
``window`` seconds of scored faces, and a verdict in words from that mean with the same threshold and
inconclusive band as an upload's result (``detection.verdicts``): "Looks authentic so far",
"Suspicious since 0:12", "Inconclusive so far", or, before there is enough to judge, a waiting line.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from detection import verdicts

MIN_FACES = 3  # scored faces in the window before any verdict
FACELESS_SECONDS = 3.0  # no face in this long: say so


def clock(seconds: float) -> str:
    """0:12, 1:05:09."""
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@dataclass
class Tracker:
    window: float
    band: float
    threshold: float = 0.5
    recent: deque = field(default_factory=deque)  # (time, score) of faces in the last ``window`` seconds
    total: float = 0.0
    count: int = 0
    first_face_at: float | None = None
    last_face_at: float | None = None
    last_seen_at: float = 0.0
    suspicious_since: float | None = None  # start of the current stretch with the running score over the threshold

    def add(self, t: float, score: float | None, threshold: float | None = None) -> None:
        """A scored frame at session time ``t``: its face's score, or None when it had no face."""
        if threshold is not None:
            self.threshold = threshold
        self.last_seen_at = max(self.last_seen_at, t)
        if score is not None:
            self.recent.append((t, score))
            self.total += score
            self.count += 1
            self.last_face_at = t
            if self.first_face_at is None:
                self.first_face_at = t
        while self.recent and self.recent[0][0] < self.last_seen_at - self.window:
            self.recent.popleft()
        running = self.running
        if running is None or len(self.recent) < MIN_FACES or running < self.threshold:
            self.suspicious_since = None
        elif self.suspicious_since is None:
            # Over the threshold from the first verdict on: suspicious since the first face.
            self.suspicious_since = self.first_face_at if self.count <= MIN_FACES else t

    @property
    def running(self) -> float | None:
        return sum(s for _, s in self.recent) / len(self.recent) if self.recent else None

    @property
    def session(self) -> float | None:
        return self.total / self.count if self.count else None

    def verdict(self) -> dict:
        """{"key", "text", "since"}: key is waiting, no_face, authentic, inconclusive or suspicious."""
        if self.last_face_at is None or self.last_seen_at - self.last_face_at > FACELESS_SECONDS:
            words = "No face in view" if self.count else "Waiting for a face"
            return {"key": "no_face" if self.count else "waiting", "text": words, "since": None}
        if len(self.recent) < MIN_FACES:
            return {"key": "waiting", "text": "Not enough frames yet", "since": None}
        verdict = verdicts.verdict_for_score(score=self.running, threshold=self.threshold, band=self.band)
        if verdict.key == verdicts.FAKE:
            since = self.suspicious_since or 0.0
            return {"key": "suspicious", "text": f"Suspicious since {clock(since)}", "since": round(since, 2)}
        if verdict.key == verdicts.INCONCLUSIVE:
            return {"key": "inconclusive", "text": "Inconclusive so far: close to the threshold", "since": None}
        return {"key": "authentic", "text": "Looks authentic so far", "since": None}
