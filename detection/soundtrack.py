"""The sound of an upload in the worker: the voice detector on audio uploads and every video's sound
track (ml.audio.VoicePredictor), the lip-sync check on videos with a face and speech (ml.sync.SyncChecker),
each stored as a row beside the face evidence with its spectrogram.

Neither ever fails a video's face analysis: whatever goes wrong (no sound track, no speech, a missing
model, a decoder error) is recorded as the row's status and reason, and the face verdict stands.
"""
from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from types import SimpleNamespace

from django.conf import settings

from ml.errors import MediaError
from ml.media.audio import read_audio

from .models import EvidenceStatus, SyncEvidence, VoiceEvidence
from .spectrogram import SAMPLE_RATE, save_spectrogram
from .storage import private_storage

logger = logging.getLogger(__name__)

VOICE_UNAVAILABLE = "voice_unavailable"
SYNC_UNAVAILABLE = "sync_unavailable"
REASONS = {
    "no_audio": "The file has no sound track.",
    "no_speech": "No speech was found in the sound.",
    "no_face": "No face was found to compare with the speech.",
    VOICE_UNAVAILABLE: "The voice detector is not available on this server.",
    SYNC_UNAVAILABLE: "The lip-sync check is not available on this server.",
    "error": "The sound could not be analysed.",
    "too_little_speech": "Too little speech to compare the lips with.",
}
_models: dict = {}
_lock = threading.Lock()


def _voice_predictor():
    """The voice detector, loaded once per process (VOICE_MODEL, else the package's default weights)."""
    with _lock:
        if "voice" not in _models:
            from ml.audio import VoicePredictor  # the audio-ml branch's package

            path = settings.VOICE_MODEL or None
            started = time.monotonic()
            _models["voice"] = VoicePredictor.load(path) if path else VoicePredictor.load()
            logger.info("loaded voice detector %s in %.1f s", getattr(_models["voice"], "model_version", "?"),
                        time.monotonic() - started)
        return _models["voice"]


def _sync_checker():
    with _lock:
        if "sync" not in _models:
            from ml.sync import SyncChecker  # the sync branch's package

            _models["sync"] = SyncChecker()
        return _models["sync"]


def _result_fields(result) -> dict:
    """The row fields a voice or lip-sync result fills alike: how it ended, why (in words), its score."""
    ok = result.status == "ok"
    return {
        "status": _status(result.status),
        "reason_code": "" if ok else (getattr(result, "error_code", "") or result.status)[:32],
        "reason": "" if ok else (getattr(result, "error", "") or REASONS.get(result.status, "")),
        "score": result.score,
        "threshold": result.threshold,
    }


def _status(value: str) -> str:
    return value if value in EvidenceStatus.values else EvidenceStatus.ERROR


def _store_png(job_id: int, local: str) -> str:
    name = private_storage.generate_filename(f"jobs/{job_id}/spectrogram-{secrets.token_hex(8)}.png")
    return private_storage.save_file(name, local)


def _spectrogram(job_id: int, path: str, work_dir: str) -> tuple[str, float]:
    """(stored name, seconds spanned) of the sound's spectrogram; ("", 0) when there is no sound."""
    try:
        samples = read_audio(path, SAMPLE_RATE, max_seconds=settings.UPLOAD_MAX_SECONDS)
    except MediaError:
        return "", 0.0
    if samples.size == 0:
        return "", 0.0
    local = os.path.join(work_dir, "spectrogram.png")
    seconds = save_spectrogram(samples, local)
    return _store_png(job_id, local), seconds


def voice_analyse(*, job, path: str, work_dir: str, progress=None, passthrough: tuple = ()) -> VoiceEvidence:
    """Run the voice detector on ``path`` and store (replace) the job's VoiceEvidence row. Never raises
    except ``passthrough`` (the worker's time limit)."""
    if progress:
        progress("voice", 80 if job.media.kind == "video" else 20)
    fields: dict = {"status": EvidenceStatus.ERROR, "reason_code": "error", "reason": REASONS["error"]}
    started = time.monotonic()
    try:
        result = _voice_predictor().predict(path)
        fields = {
            **_result_fields(result),
            "model_version": (result.model_version or "")[:64],
            "duration": float(result.duration_s or 0.0),
            "speech_seconds": float(result.speech_s or 0.0),
            "seconds": _rounded_seconds(result.seconds or []),
        }
    except passthrough:
        raise
    except ImportError:
        logger.warning("job %s: no voice detector (ml.audio) in this build", job.pk)
        fields.update(status=EvidenceStatus.SKIPPED, reason_code=VOICE_UNAVAILABLE, reason=REASONS[VOICE_UNAVAILABLE])
    except Exception as exc:  # a broken model or file must not take the face analysis with it
        logger.exception("job %s: voice analysis failed", job.pk)
        fields["reason"] = f"{REASONS['error']} ({type(exc).__name__})"
    fields["timing"] = round(time.monotonic() - started, 3)
    if fields["status"] != EvidenceStatus.NO_AUDIO:
        try:
            if progress:
                progress("spectrogram", 90 if job.media.kind == "video" else 70)
            fields["image"], fields["image_seconds"] = _spectrogram(job.pk, path, work_dir)
        except passthrough:
            raise
        except Exception:
            logger.exception("job %s: spectrogram not drawn", job.pk)
    timing = fields.pop("timing")
    row, _ = VoiceEvidence.objects.update_or_create(job=job, defaults=fields)
    row.timing = timing
    return row


def _rounded_seconds(seconds: list) -> list[dict]:
    out = []
    for item in seconds:
        score = item.get("score")
        out.append({"start": round(float(item.get("start", 0.0)), 3), "end": round(float(item.get("end", 0.0)), 3),
                    "speech": round(float(item.get("speech") or 0.0), 3),
                    "score": None if score is None else round(float(score), 4)})
    return out


def sync_wanted(*, faces_found: int, voice: VoiceEvidence | None) -> str:
    """"" when the lip-sync check should run on a video, else the reason code it does not."""
    if faces_found <= 0:
        return "no_face"
    if voice is None or voice.status in (EvidenceStatus.NO_AUDIO,):
        return "no_audio"
    if voice.status == EvidenceStatus.NO_SPEECH:
        return "no_speech"
    if voice.status == EvidenceStatus.OK and voice.speech_seconds < settings.SYNC_MIN_SPEECH_SECONDS:
        return "too_little_speech"
    return ""


def sync_analyse(*, job, path: str, faces_found: int, voice: VoiceEvidence | None, progress=None,
                 passthrough: tuple = ()) -> SyncEvidence | None:
    """Run the lip-sync check on a video with a face and speech and store its row. Never raises except
    ``passthrough``. None when lip-sync checking is switched off."""
    if not settings.SYNC_ENABLED:
        return None
    skip = sync_wanted(faces_found=faces_found, voice=voice)
    if skip:
        status = skip if skip in EvidenceStatus.values else EvidenceStatus.SKIPPED
        row, _ = SyncEvidence.objects.update_or_create(job=job, defaults={
            "status": status, "reason_code": skip, "reason": REASONS.get(skip, ""), "score": None,
            "threshold": None, "offset": None, "segments": []})
        return row
    if progress:
        progress("sync", 95)
    fields: dict = {"status": EvidenceStatus.ERROR, "reason_code": "error", "reason": REASONS["error"]}
    started = time.monotonic()
    try:
        result = _sync_checker().check(path)
        fields = {
            **_result_fields(result),
            "offset": result.offset_s,
            "method_version": (getattr(result, "method_version", "") or "")[:64],
            "segments": list(result.segments or []),
        }
    except passthrough:
        raise
    except ImportError:
        logger.warning("job %s: no lip-sync check (ml.sync) in this build", job.pk)
        fields.update(status=EvidenceStatus.SKIPPED, reason_code=SYNC_UNAVAILABLE, reason=REASONS[SYNC_UNAVAILABLE])
    except Exception as exc:
        logger.exception("job %s: lip-sync check failed", job.pk)
        fields["reason"] = f"{REASONS['error']} ({type(exc).__name__})"
    row, _ = SyncEvidence.objects.update_or_create(job=job, defaults=fields)
    row.timing = round(time.monotonic() - started, 3)
    return row


def audio_prediction(voice: VoiceEvidence) -> SimpleNamespace:
    """An audio upload's analysis in the shape ``jobs`` finishes a face prediction with: no frames, the
    voice's score and model. Status "ok" also for no speech (the verdict then says inconclusive)."""
    usable = voice.status in (EvidenceStatus.OK, EvidenceStatus.NO_SPEECH)
    return SimpleNamespace(
        status="ok" if usable else "error",
        error_code=voice.reason_code or "voice_error",
        error=voice.reason or REASONS["error"],
        frames=[], faces_found=0, clip_parts=None,
        score=voice.score, threshold=voice.threshold, model_version=voice.model_version,
        timings={"voice": getattr(voice, "timing", None)},
    )


def voice_card(voice: VoiceEvidence) -> dict:
    """What a report needs of the voice model (its card, where the predictor has one)."""
    predictor = _models.get("voice")
    card = getattr(predictor, "card", None) or {}
    keys = ("version", "date", "threshold", "training_data", "metrics", "calibration", "name")
    summary = {key: card[key] for key in keys if key in card}
    summary.setdefault("version", voice.model_version)
    summary["kind"] = "voice"
    return summary
