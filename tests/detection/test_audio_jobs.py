"""Issue 29 end to end with a real Celery worker on MariaDB and Redis: audio uploads and a video's sound
track through the voice detector, the rows and the spectrogram, the verdict's driver, the page, the JSON
and PDF reports, the moderation flag, and bad audio that always ends in a clear outcome."""
import json
import subprocess

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detection.models import DetectionJob, Media
from moderation.models import ModerationItem
from tests.audio_media import audio_clips, synthetic_voice_video  # noqa: F401  (fixtures)
from tests.conftest import wait_for_job


def upload(client, path) -> Media:
    response = client.post(reverse("detection:upload"), {"file": SimpleUploadedFile(path.name, path.read_bytes())})
    assert response.status_code == 302, response.content[-2000:]
    return Media.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))


def pdf_text(client, media) -> str:
    response = client.get(reverse("detection:report_pdf", args=[media.pk]))
    assert response.status_code == 200
    return subprocess.run(["pdftotext", "-", "-"], input=response.content, capture_output=True, check=True).stdout.decode()


def assert_voice_shown(client, media, job) -> dict:
    """The page, the JSON report and the PDF all carry the voice evidence; returns the report's voice."""
    page = client.get(reverse("detection:result", args=[media.pk])).content.decode()
    assert 'id="voice-evidence"' in page and 'id="voice-strip"' in page and 'id="spectrogram"' in page
    report = json.loads(client.get(reverse("detection:report_json", args=[media.pk])).content)
    voice = report["voice"]
    assert voice["status"] == "ok" and 0.0 <= voice["score"] <= 1.0 and voice["model_version"]
    assert voice["seconds"] and all(0.0 <= s["speech"] <= 1.0 for s in voice["seconds"])
    assert any(s["score"] is not None for s in voice["seconds"])
    assert report["analysis"]["verdict_driver"]["rule"]
    text = pdf_text(client, media)
    assert "The voice" in text and voice["model_version"] in text
    picture = client.get(voice["spectrogram_url"] or reverse("detection:spectrogram", args=[media.pk]))
    assert picture.status_code == 200 and b"".join(picture.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"
    return voice


@pytest.mark.worker
def test_real_and_synthetic_speech_mp3s_are_judged_by_their_voice(
        transactional_db, celery_worker, audio_clips, owner_client, outsider_client):
    for name in ("real_mp3", "synthetic_mp3"):
        media = upload(owner_client, audio_clips[name])
        job = wait_for_job(media.job.pk, celery_worker)
        assert job.status == DetectionJob.Status.DONE, (job.error_code, job.error_message, celery_worker.log_tail())
        voice_row = job.voice
        assert voice_row.status == "ok" and voice_row.speech_seconds > 1.0 and voice_row.image
        # The job's own score, model and verdict are the voice's: there is no face to judge.
        assert job.score == voice_row.score and job.model_version == voice_row.model_version
        assert job.verdict in ("fake", "authentic", "inconclusive") and job.verdict_driver == "voice"
        assert job.faces_found == 0 and job.frames.count() == 0
        voice = assert_voice_shown(owner_client, media, job)
        # Moderation: a score at or over the voice threshold flags "synthetic voice".
        synthetic = voice["score"] >= voice["threshold"]
        item = ModerationItem.objects.filter(job=job).first()
        assert (item is not None and item.synthetic_voice) == synthetic
        # Owner-only, like every other file.
        assert outsider_client.get(reverse("detection:spectrogram", args=[media.pk])).status_code == 404
    assert celery_worker.alive()


@pytest.mark.worker
def test_a_videos_synthetic_sound_track_is_analysed_beside_its_face(
        transactional_db, celery_worker, synthetic_voice_video, clips, owner_client):
    media = upload(owner_client, synthetic_voice_video)
    assert media.kind == "video"
    job = wait_for_job(media.job.pk, celery_worker)
    assert job.status == DetectionJob.Status.DONE, (job.error_code, job.error_message, celery_worker.log_tail())
    assert job.faces_found > 0 and job.frames.exists()  # the face analysis as before
    assert job.voice.status == "ok" and job.voice.score is not None
    # The lip-sync check ran on the face and the speech (its verdict is ml.sync's business, not this test's).
    assert job.sync.status == "ok", (job.sync.reason_code, job.sync.reason)
    assert job.sync.score is not None and job.sync.offset is not None
    assert job.verdict_driver in ("face", "voice", "sync")
    assert_voice_shown(owner_client, media, job)
    page = owner_client.get(reverse("detection:result", args=[media.pk])).content.decode()
    assert 'id="sync-evidence"' in page and 'id="verdict-driver"' in page and 'id="timeline"' in page

    # A video without a sound track: the face verdict alone, the voice row says why.
    silent = upload(owner_client, clips["face"])
    job = wait_for_job(silent.job.pk, celery_worker)
    assert job.status == DetectionJob.Status.DONE and job.verdict_driver == "face"
    assert job.voice.status == "no_audio" and not job.voice.image
    page = owner_client.get(reverse("detection:result", args=[silent.pk])).content.decode()
    assert "No sound track" in page


BAD_AUDIO = {
    # name: what must hold of the ended job
    "silence_wav": "no_speech",
    "chord_mp3": "no_speech_or_ok",  # a sine chord may pass the voice-activity step; either is an answer
    "phone_wav": "ok",
    "truncated_mp3": "any_clear",
}


@pytest.mark.worker
def test_bad_audio_gets_a_clear_outcome(transactional_db, celery_worker, audio_clips, owner_client):
    for name, expected in BAD_AUDIO.items():
        media = upload(owner_client, audio_clips[name])
        job = wait_for_job(media.job.pk, celery_worker)
        assert job.error_code not in ("internal_error", "timeout", "storage_error"), (name, job.error_message)
        page = owner_client.get(reverse("detection:result", args=[media.pk]))
        assert page.status_code == 200
        pdf_text(owner_client, media)  # the report draws for every outcome
        if job.status == DetectionJob.Status.FAILED:
            assert expected == "any_clear" and job.error_message, (name, job.error_code)
            assert job.error_message.encode() in page.content
            continue
        voice = job.voice
        if expected == "no_speech" or (expected == "no_speech_or_ok" and voice.status == "no_speech"):
            assert voice.status == "no_speech", (name, voice.status, voice.reason)
            assert (job.verdict, job.verdict_reason) == ("inconclusive", "no_speech")
            assert b"No speech" in page.content
        else:
            assert voice.status == "ok", (name, voice.status, voice.reason)
            assert job.verdict and job.verdict_driver == "voice"
    assert celery_worker.alive()
