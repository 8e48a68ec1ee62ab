"""Issue 29 without a worker: one verdict from face, voice and lip-sync evidence (detection.evidence),
audio types decided from the content, and the upload limits and refusals for audio."""
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detection import evidence, verdicts
from detection.models import Media
from ml.errors import MediaError
from ml.media.decode import probe
from tests.audio_media import audio_clips  # noqa: F401  (fixture)

BAND = 0.1


def face(score, reason=""):
    if reason:
        return evidence.Evidence("face", verdicts.Verdict(verdicts.INCONCLUSIVE, reason), score, 0.5)
    return evidence.Evidence("face", verdicts.verdict_for_score(score=score, threshold=0.5, band=BAND), score, 0.5)


def reading(score, status="ok", threshold=0.5):
    return SimpleNamespace(status=status, score=score, threshold=threshold)


@pytest.mark.parametrize("face_score, voice, sync, key, driver", [
    # Face alone, as before.
    (0.9, None, None, "fake", "face"),
    (0.1, None, None, "authentic", "face"),
    (0.55, None, None, "inconclusive", "face"),
    # A real face speaking with a cloned voice (a Wav2Lip dubbing): the voice drives it.
    (0.1, reading(0.95), None, "fake", "voice"),
    # A face swap that kept the real voice: the face drives it; the authentic voice does not cancel it.
    (0.9, reading(0.05), None, "fake", "face"),
    # Lips out of sync, face and voice unsure or authentic: the sync check drives it.
    (0.2, reading(0.1), reading(0.9), "fake", "sync"),
    # Several say fake: the one furthest past its threshold is named.
    (0.7, reading(0.97), None, "fake", "voice"),
    # A weak fake reading against a confident authentic one: the signals disagree.
    (0.05, reading(0.65), None, "inconclusive", "voice"),
    # Everything authentic: authentic, driven by the most confident.
    (0.3, reading(0.02), reading(0.1), "authentic", "voice"),
    # An unreadable voice (no speech, an error) takes no part.
    (0.9, reading(None, status="no_speech"), None, "fake", "face"),
    (0.1, reading(0.99, status="error"), None, "authentic", "face"),
    # Authentic face, voice too close to call: inconclusive because of the voice.
    (0.1, reading(0.52), None, "inconclusive", "voice"),
])
def test_combine_follows_the_written_rule(face_score, voice, sync, key, driver):
    verdict, drove = evidence.combine(face=face(face_score), voice=voice, sync=sync, band=BAND)
    assert (verdict.key, drove) == (key, driver)
    if verdict.reason == evidence.SIGNALS_DISAGREE:
        assert "disagree" in evidence.explanation(verdict)


def test_combine_without_a_face_or_speech():
    # A video without a face but with a synthetic voice is judged by the voice.
    verdict, drove = evidence.combine(face=face(None, verdicts.NO_FACE), voice=reading(0.9), band=BAND)
    assert (verdict.key, drove) == ("fake", "voice")
    assert evidence.driver_words(verdict, drove) == "synthetic voice"
    # No face and no speech: the face's own "no face" verdict stands.
    verdict, drove = evidence.combine(face=face(None, verdicts.NO_FACE), voice=reading(None, "no_speech"), band=BAND)
    assert (verdict.key, verdict.reason) == ("inconclusive", verdicts.NO_FACE)
    # An audio upload without speech: inconclusive, and the page says why.
    verdict, drove = evidence.combine(voice=reading(None, "no_speech"), band=BAND)
    assert (verdict.key, verdict.reason, drove) == ("inconclusive", evidence.NO_SPEECH, "voice")
    assert "No speech" in evidence.explanation(verdict)
    for kind, words in (("face", "face manipulated"), ("voice", "synthetic voice"), ("sync", "lips out of sync")):
        assert evidence.driver_words(verdicts.Verdict("fake"), kind) == words


@pytest.mark.parametrize("name, fmt", [("real_mp3", "mp3"), ("real_wav", "wav"), ("real_m4a", "m4a"),
                                       ("real_aac", "aac"), ("real_opus", "ogg"), ("real_ogg", "ogg"),
                                       ("real_flac", "flac"), ("phone_wav", "wav")])
def test_audio_type_is_decided_from_the_content(audio_clips, tmp_path, name, fmt):
    # Under a misleading name too: the content decides.
    renamed = tmp_path / "recording.mp4"
    renamed.write_bytes(audio_clips[name].read_bytes())
    info = probe(str(renamed))
    assert (info.kind, info.format) == ("audio", fmt)
    assert 3.0 < info.duration < 5.0 if name != "phone_wav" else info.duration > 3.0


def test_audio_limits_and_fakes_are_refused_by_probe(audio_clips):
    with pytest.raises(MediaError) as too_long:
        probe(str(audio_clips["two_hours_mp3"]))
    assert too_long.value.code == "too_long" and "audio is longer than 10 minutes" in too_long.value.message
    with pytest.raises(MediaError) as not_audio:
        probe(str(audio_clips["not_audio_mp3"]))
    assert not_audio.value.code == "unsupported_type"


def _post(client, path, name=None):
    return client.post(reverse("detection:upload"), {"file": SimpleUploadedFile(name or path.name, path.read_bytes())},
                       HTTP_ACCEPT="application/json")


def test_audio_uploads_are_accepted_and_refused_clearly(db, owner_client, audio_clips):
    response = _post(owner_client, audio_clips["real_mp3"])
    assert response.status_code == 201, response.content
    media = Media.objects.get(pk=response.json()["id"])
    assert (media.kind, media.format, media.width, media.height) == ("audio", "mp3", 0, 0)
    assert 3.0 < media.duration < 5.0 and media.job.status == "queued"
    # The player gets the right type for the stored file.
    served = owner_client.get(reverse("detection:media_file", args=[media.pk]))
    assert served.status_code == 200 and served["Content-Type"] == "audio/mpeg"

    refused = _post(owner_client, audio_clips["two_hours_mp3"])
    assert refused.status_code == 400
    assert "audio is longer than 10 minutes" in refused.json()["error"]
    fake = _post(owner_client, audio_clips["not_audio_mp3"])
    assert fake.status_code == 400
    message = fake.json()["error"]
    assert "not a supported" in message and "audio file" in message and "name ends in .mp3" in message
    assert Media.objects.filter(owner=media.owner).count() == 1  # nothing stored for the refusals

    page = owner_client.get(reverse("detection:upload"))
    assert b"Audio: wav, mp3, m4a, aac, ogg, opus, flac" in page.content


def test_voice_scores_have_their_own_drift_and_stay_out_of_the_face_models_numbers(db, owner, tmp_path, settings):
    from django.test import Client

    from detection.models import VoiceEvidence
    from moderation import feedback, selectors as moderation_selectors
    from moderation.models import ModerationItem
    from registry import shadow
    from tests.moderation_support import make_job, make_user

    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    video = make_job(owner, score=0.2, kind="video")
    audio = make_job(owner, score=0.97, kind="audio")
    for job, score in ((video, 0.8), (audio, 0.97)):
        VoiceEvidence.objects.create(job=job, status="ok", score=score, threshold=0.5, duration=4, speech_seconds=3)
    face = moderation_selectors.score_drift(card=None)
    voice = moderation_selectors.score_drift(scores=moderation_selectors.voice_scores, card=None)
    assert face["current_count"] == 1 and face["current_hist"][2] == 1  # the audio upload's 0.97 is not a face score
    assert voice["current_count"] == 2 and voice["current_hist"][8] == 1 and voice["current_hist"][9] == 1

    # The health page draws the voice drift beside the face's.
    moderator = make_user("mod", role="moderator")
    client = Client()
    client.force_login(moderator)
    page = client.get(reverse("moderation:health"))
    assert page.status_code == 200 and b'id="voice-drift"' in page.content
    assert b'id="voice-drift-count">2<' in page.content

    # The registry's face models never shadow-score an audio upload; face feedback leaves audio out.
    sent = []
    original_run_task, shadow.run_task = shadow.run_task, lambda *args, **kwargs: sent.append(args)
    try:
        from registry.models import ModelVersion

        ModelVersion.objects.create(version="shadow-x", status=ModelVersion.Status.SHADOW, sha256="0" * 64,
                                    file="models/x.pt", card={})
        shadow.enqueue_for(audio.pk)
        assert sent == []
        shadow.enqueue_for(video.pk)
        assert len(sent) == 1
    finally:
        shadow.run_task = original_run_task
    for job in (video, audio):
        ModerationItem.objects.create(job=job, high_score=True, status=ModerationItem.Status.CONFIRMED_FAKE)
    rows = feedback.feedback_export(out_dir=tmp_path / "feedback")
    assert [row["media_id"] for row in rows] == [video.media_id]


def _this_checkouts_client():
    """client/ of this checkout (the shared virtual environment's editable install may point at another)."""
    import importlib.util
    import sys

    from tests.conftest import REPO

    package = REPO / "client" / "deepfake_portal_client"
    spec = importlib.util.spec_from_file_location("portal_client_under_test", package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_client_sends_audio_with_its_type_and_sums_up_the_evidence():
    client_package = _this_checkouts_client()
    evidence_summary = client_package.evidence_summary
    _multipart, content_type_for = client_package.client._multipart, client_package.client.content_type_for

    assert [content_type_for(n) for n in ("a.mp3", "b.opus", "c.m4a", "d.flac", "e.wav", "f.mp4")] == [
        "audio/mpeg", "audio/ogg", "audio/mp4", "audio/flac", "audio/wav", "video/mp4"]
    body, _ = _multipart({}, "file", "note.opus", b"OggS")
    assert b"Content-Type: audio/ogg" in body
    analysis = {"verdict": "fake", "verdict_driver": {"driver": "voice", "words": "synthetic voice"},
                "voice": {"status": "ok", "score": 0.93, "synthetic": True}, "sync": None}
    assert evidence_summary(analysis) == {
        "verdict": "fake", "driven_by": "synthetic voice", "voice_status": "ok", "voice_score": 0.93,
        "synthetic_voice": True, "sync_status": None, "sync_score": None, "sync_offset_seconds": None}
