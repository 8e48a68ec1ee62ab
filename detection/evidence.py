"""One verdict from several kinds of evidence: the face detector, the voice detector and the lip-sync check.

The rule, in words a reader can follow (the result page, the PDF and docs/audio.md say the same):

1. Each kind of evidence is read on its own, against its own threshold and the inconclusive band:
   it says fake, authentic, or it is too close to call. Evidence that could not be read (no face, no
   speech, no sound track, an error) takes no part.
2. If any says fake, the one furthest above its threshold drives the verdict: likely fake. The kinds
   of evidence answer different questions (a real face can speak with a cloned voice, a face swap keeps
   the real voice), so an authentic reading of one does not cancel a fake reading of another, except
   when the fake reading is weak (less than twice the band above its threshold) and another kind reads
   authentic: then the signals disagree and the verdict is inconclusive.
3. Otherwise, if any is too close to call, the verdict is inconclusive, for that evidence's reason.
4. Otherwise every kind read says authentic: likely authentic, driven by the most confident one.

Pure functions, no database: rows (VoiceEvidence, SyncEvidence), ml results (VoicePrediction,
SyncResult) or plain ``Evidence`` values all work, since only status, score and threshold are read.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import verdicts
from .verdicts import AUTHENTIC, FAKE, INCONCLUSIVE, Verdict

FACE, VOICE, SYNC, WHOLE_IMAGE = "face", "voice", "sync", "whole_image"
# Reasons beyond verdicts.REASONS (the constant is verdicts' own once it has it).
SIGNALS_DISAGREE = getattr(verdicts, "SIGNALS_DISAGREE", "signals_disagree")
NO_SPEECH = getattr(verdicts, "NO_SPEECH", "no_speech")
EXTRA_REASONS = {
    SIGNALS_DISAGREE: "The kinds of evidence disagree: one leans fake only slightly while another reads authentic.",
    NO_SPEECH: "No speech was found in the sound, so there is nothing to judge.",
}

# What drove a verdict, in words, per verdict key.
DRIVER_WORDS = {
    FAKE: {FACE: "face manipulated", VOICE: "synthetic voice", SYNC: "lips out of sync",
           WHOLE_IMAGE: "the whole picture looks AI-generated"},
    AUTHENTIC: {FACE: "the face looks authentic", VOICE: "the voice sounds authentic",
                SYNC: "lips and speech agree", WHOLE_IMAGE: "the whole picture looks camera-made"},
    INCONCLUSIVE: {FACE: "the face evidence", VOICE: "the voice evidence", SYNC: "the lip-sync evidence",
                   WHOLE_IMAGE: "the whole-picture evidence"},
}
KIND_WORDS = {FACE: "Face", VOICE: "Voice", SYNC: "Lip sync", WHOLE_IMAGE: "Whole picture"}
RULE_WORDS = (
    "Face, voice and lip-sync evidence are each read against their own threshold. Any that reads fake makes "
    "the verdict likely fake (the strongest one is named), unless it is only slightly past its threshold while "
    "another reads authentic: then the verdict is inconclusive. Likely authentic needs every kind read to agree. "
    "A photo without a face is read as a whole picture instead (does it look AI-generated or camera-made)."
)


@dataclass(frozen=True)
class Evidence:
    """One kind of evidence, read on its own."""

    kind: str  # FACE | VOICE | SYNC | WHOLE_IMAGE
    verdict: Verdict
    score: float | None = None
    threshold: float | None = None

    @property
    def margin(self) -> float:
        """How far the score lies on its verdict's side of the threshold (0 when unknown)."""
        if self.score is None or self.threshold is None:
            return 0.0
        return self.score - self.threshold if self.verdict.key == FAKE else self.threshold - self.score


def read(kind: str, result, *, band: float) -> Evidence | None:
    """Evidence from anything with ``status``, ``score`` and ``threshold`` (None when it was not read)."""
    if result is None or getattr(result, "status", None) != "ok" or getattr(result, "score", None) is None:
        return None
    threshold = 0.5 if result.threshold is None else float(result.threshold)
    verdict = verdicts.verdict_for_score(score=float(result.score), threshold=threshold, band=band)
    return Evidence(kind, verdict, float(result.score), threshold)


def combine(*, face: Evidence | None = None, voice=None, sync=None, whole_image=None,
            band: float = 0.1) -> tuple[Verdict, str | None]:
    """The verdict and the kind of evidence that drove it (FACE, VOICE, SYNC, WHOLE_IMAGE or None).

    ``face``: the face detector's Evidence (its verdict already carries its own reasons: no face, low
    quality, near the threshold). ``voice``, ``sync``, ``whole_image``: Evidence, or a row/result that
    ``read`` takes (the whole picture is read only for images without a face: detection.whole_image).
    """
    voice = voice if isinstance(voice, Evidence) or voice is None else read(VOICE, voice, band=band)
    sync = sync if isinstance(sync, Evidence) or sync is None else read(SYNC, sync, band=band)
    if whole_image is not None and not isinstance(whole_image, Evidence):
        whole_image = read(WHOLE_IMAGE, whole_image, band=band)
    readable = [e for e in (face, voice, sync, whole_image) if e is not None and e.verdict.reason != verdicts.NO_FACE]
    if not readable:
        if face is not None:
            return face.verdict, FACE
        return Verdict(INCONCLUSIVE, NO_SPEECH), (VOICE if voice is None else None)
    fakes = [e for e in readable if e.verdict.key == FAKE]
    authentic = [e for e in readable if e.verdict.key == AUTHENTIC]
    if fakes:
        strongest = max(fakes, key=lambda e: e.margin)
        if strongest.margin < 2 * band and authentic:
            return Verdict(INCONCLUSIVE, SIGNALS_DISAGREE), strongest.kind
        return Verdict(FAKE), strongest.kind
    unsure = [e for e in readable if e.verdict.key == INCONCLUSIVE]
    if unsure:
        return unsure[0].verdict, unsure[0].kind
    return Verdict(AUTHENTIC), max(authentic, key=lambda e: e.margin).kind


def explanation(verdict: Verdict | None) -> str:
    """Why a verdict is inconclusive, in words (verdicts' own reasons, then those added here)."""
    if verdict is None or not verdict.reason:
        return ""
    return verdict.explanation or EXTRA_REASONS.get(verdict.reason, "")


def driver_words(verdict: Verdict | None, driver: str | None) -> str:
    """"synthetic voice", "face manipulated", ... : what drove the verdict, or "" when nothing did."""
    if verdict is None or not driver:
        return ""
    return DRIVER_WORDS.get(verdict.key, {}).get(driver, "")


def row_fields(row) -> dict:
    """The JSON fields every evidence row shares (voice, lip sync, whole picture): how it ended, why, its score."""
    return {
        "status": row.status,
        "status_words": row.get_status_display(),
        "reason_code": row.reason_code or None,
        "reason": row.reason or None,
        "score": row.score,
        "threshold": row.threshold,
    }
