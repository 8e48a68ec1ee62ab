"""The verdict in words: likely fake, likely authentic, or inconclusive. Pure functions, no database.

A score is a probability of manipulation; the model's threshold splits fake from authentic. Scores
within ``band`` of the threshold, faces too small to judge, and files without a face read inconclusive:
the page never claims more than the model can tell.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import median

FAKE = "fake"
AUTHENTIC = "authentic"
INCONCLUSIVE = "inconclusive"

WORDS = {FAKE: "Likely fake", AUTHENTIC: "Likely authentic", INCONCLUSIVE: "Inconclusive"}
ICONS = {FAKE: "⚠", AUTHENTIC: "✓", INCONCLUSIVE: "?"}  # shown next to the words: colour is never alone

# Why a result is inconclusive, in words.
NEAR_THRESHOLD = "near_threshold"
LOW_QUALITY = "low_quality"
NO_FACE = "no_face"
REASONS = {
    NEAR_THRESHOLD: "The score is too close to the model's threshold to call either way.",
    LOW_QUALITY: "The faces are too small or blurry to judge reliably.",
    NO_FACE: "No face was found, so there is nothing to judge.",
}


@dataclass(frozen=True)
class Verdict:
    key: str  # FAKE | AUTHENTIC | INCONCLUSIVE
    reason: str = ""  # for INCONCLUSIVE: NEAR_THRESHOLD | LOW_QUALITY | NO_FACE

    @property
    def words(self) -> str:
        return WORDS[self.key]

    @property
    def icon(self) -> str:
        return ICONS[self.key]

    @property
    def explanation(self) -> str:
        return REASONS.get(self.reason, "")


def verdict_for_score(*, score: float | None, threshold: float, band: float, faces_found: int = 1,
                      face_sizes: list[int] | None = None, min_face_px: int = 0) -> Verdict:
    """The verdict for a finished analysis. ``face_sizes``: each analysed face's shorter side in pixels."""
    if score is None or faces_found == 0:
        return Verdict(INCONCLUSIVE, NO_FACE)
    if face_sizes and median(face_sizes) < min_face_px:
        return Verdict(INCONCLUSIVE, LOW_QUALITY)
    if abs(score - threshold) < band:
        return Verdict(INCONCLUSIVE, NEAR_THRESHOLD)
    return Verdict(FAKE if score >= threshold else AUTHENTIC)


def confidence(*, score: float | None, verdict: Verdict) -> float | None:
    """How sure the model is of the stated verdict, 0-1 (none for an inconclusive one)."""
    if score is None or verdict.key == INCONCLUSIVE:
        return None
    return score if verdict.key == FAKE else 1.0 - score
