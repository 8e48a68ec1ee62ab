"""The one vocabulary of verdicts: likely fake, likely authentic, or inconclusive. Pure functions, no database.

Every surface (result page, History, moderation queue and review, health page, PDF, JSON report, API,
webhooks) takes its words from here, and the verdict is decided once, by :func:`decide`, when a job ends.

A score is a probability of manipulation; the model's threshold splits fake from authentic. Scores
within ``band`` of the threshold, faces too small to judge, files without a face, and clips whose frame
evidence and clip score fall on opposite sides of the threshold read inconclusive: the page never claims
more than the model can tell.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import median

FAKE = "fake"
AUTHENTIC = "authentic"
INCONCLUSIVE = "inconclusive"
KEYS = (FAKE, INCONCLUSIVE, AUTHENTIC)

WORDS = {FAKE: "Likely fake", AUTHENTIC: "Likely authentic", INCONCLUSIVE: "Inconclusive"}
ICONS = {FAKE: "⚠", AUTHENTIC: "✓", INCONCLUSIVE: "?"}  # shown next to the words: colour is never alone
SHAPES = {FAKE: "triangle", AUTHENTIC: "circle", INCONCLUSIVE: "diamond"}  # timeline points, same three

# Why a result is inconclusive, in words.
NEAR_THRESHOLD = "near_threshold"
LOW_QUALITY = "low_quality"
NO_FACE = "no_face"
SIGNALS_DISAGREE = "signals_disagree"
MAY_BE_ALTERED = "may_be_altered"  # the tamper signal (ml.inference.tamper) fired
NO_SPEECH = "no_speech"  # audio judged by the voice alone, and no speech in it (detection.evidence)
REASONS = {
    NEAR_THRESHOLD: "The score is too close to the model's threshold to call either way.",
    LOW_QUALITY: "The faces are too small or blurry to judge reliably.",
    NO_FACE: "No face was found, so there is nothing to judge.",
    SIGNALS_DISAGREE: "The frame evidence and the clip score disagree.",
    MAY_BE_ALTERED: ("This file may have been altered to evade detection: its score jumps under small, harmless "
                     "changes (re-compression, a 1-pixel shift), so a moderator will look at it."),
    NO_SPEECH: "No speech was found in the sound, so there is nothing to judge.",
}

# Which evidence decided a combined verdict (detection.evidence.combine returns one of these).
DRIVERS = {
    "face": "the faces",
    "voice": "the voice",
    "sync": "the lip sync",
    "whole_image": "the whole picture",
}

# A moderator's outcome, in the same vocabulary (keys are moderation.ModerationItem statuses).
OUTCOME_FAKE = "confirmed_fake"
OUTCOME_AUTHENTIC = "authentic"
OUTCOMES = {
    OUTCOME_FAKE: "Confirmed fake by a moderator",
    OUTCOME_AUTHENTIC: "Confirmed authentic by a moderator",
    "open": "Under review",
    "escalated": "Under review",
}
OUTCOME_VERDICT = {OUTCOME_FAKE: FAKE, OUTCOME_AUTHENTIC: AUTHENTIC}  # what a review says, as a verdict key


@dataclass(frozen=True)
class Verdict:
    key: str  # FAKE | AUTHENTIC | INCONCLUSIVE
    reason: str = ""  # for INCONCLUSIVE: one of REASONS

    @property
    def words(self) -> str:
        return WORDS[self.key]

    @property
    def icon(self) -> str:
        return ICONS[self.key]

    @property
    def shape(self) -> str:
        return SHAPES[self.key]

    @property
    def explanation(self) -> str:
        return REASONS.get(self.reason, "")


def side(score: float, threshold: float) -> str:
    """The raw side of the threshold a score falls on (FAKE or AUTHENTIC), with no band."""
    return FAKE if score >= threshold else AUTHENTIC


def signals_disagree(score: float | None, threshold: float, clip_parts: dict | None) -> bool:
    """True when the clip's frame mean and its clip score fall on opposite sides of the threshold."""
    if score is None or not clip_parts or not isinstance(clip_parts.get("frame_mean"), (int, float)):
        return False
    return side(float(clip_parts["frame_mean"]), threshold) != side(score, threshold)


def decide(*, score: float | None, threshold: float, band: float, faces_found: int = 1,
           face_sizes: list[int] | None = None, min_face_px: int = 0, clip_parts: dict | None = None,
           altered: bool = False) -> Verdict:
    """The verdict for a finished analysis, from the detector's score and threshold.

    ``face_sizes``: each analysed face's shorter side in pixels; ``clip_parts``: the parts of a clip score
    (``Prediction.clip_parts``); ``altered``: the tamper signal fired (it is only run below the fake side).
    In order: no face, faces too small, may have been altered (never "likely authentic"), too close to the
    threshold, the signals disagree; otherwise the side of the threshold.
    """
    if score is None or faces_found == 0:
        return Verdict(INCONCLUSIVE, NO_FACE)
    if face_sizes and median(face_sizes) < min_face_px:
        return Verdict(INCONCLUSIVE, LOW_QUALITY)
    if altered and score < threshold + band:
        return Verdict(INCONCLUSIVE, MAY_BE_ALTERED)
    if abs(score - threshold) < band:
        return Verdict(INCONCLUSIVE, NEAR_THRESHOLD)
    if signals_disagree(score, threshold, clip_parts):
        return Verdict(INCONCLUSIVE, SIGNALS_DISAGREE)
    return Verdict(side(score, threshold))


verdict_for_score = decide  # the earlier name


def confidence(*, score: float | None, verdict: Verdict | None) -> float | None:
    """How sure the model is of the stated verdict, 0-1 (none for an inconclusive one)."""
    if score is None or verdict is None or verdict.key == INCONCLUSIVE:
        return None
    return score if verdict.key == FAKE else 1.0 - score


def stored(key: str, reason: str = "") -> Verdict | None:
    """The Verdict a job row holds (none while it runs, or when it failed for a reason with no verdict)."""
    return Verdict(key, reason) if key in WORDS else None


def as_dict(verdict: Verdict | None, score: float | None) -> dict:
    """The verdict for JSON (API, report, status, webhooks): the same keys and words everywhere."""
    return {
        "verdict": verdict.key if verdict else None,
        "verdict_words": verdict.words if verdict else None,
        "confidence": confidence(score=score, verdict=verdict),
        "reason": verdict.reason or None if verdict else None,
        "reason_words": verdict.explanation or None if verdict else None,
    }


def outcome_words(status: str) -> str:
    """A moderation status in words ("" when there is no moderation item)."""
    return OUTCOMES.get(status, "")


def driver_words(driver: str | None) -> str:
    """What decided a combined verdict, in words ("" for none)."""
    return DRIVERS.get(driver or "", "")
