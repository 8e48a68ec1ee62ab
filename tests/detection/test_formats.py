"""Every upload plays (issue 32): each common container and codec FFmpeg decodes is accepted by its content,
and a video browsers cannot play gets an H.264/AAC preview from the worker that chromium plays.

The clips are made here with ffmpeg: a second of test pattern with a tone for the format checks, and the
shared face clip re-encoded for the worker and browser test."""
from __future__ import annotations

import pytest
from django.urls import reverse

from detection import previews, verdicts
from detection.models import DetectionJob, Media
from ml.media import decode
from tests.conftest import ffmpeg, wait_for_job

# name, ffmpeg output options, the stored format (ml.media.decode.sniff), whether browsers play it as it is
SAMPLES = [
    ("h264.mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"], "mp4", True),
    ("vp9.webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-c:a", "libopus"], "mkv", True),
    ("mpeg4-part2.mp4", ["-c:v", "mpeg4", "-c:a", "aac"], "mp4", False),
    ("hevc.mp4", ["-c:v", "libx265", "-x265-params", "log-level=error", "-tag:v", "hvc1", "-c:a", "aac"], "mp4", False),
    ("clip.m4v", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-an", "-f", "mp4"], "mp4", True),
    ("phone.3gp", ["-c:v", "h263", "-s", "176x144", "-c:a", "aac", "-ar", "8000", "-ac", "1"], "mp4", False),
    ("grid.mpg", ["-c:v", "mpeg1video", "-c:a", "mp2", "-f", "mpeg"], "mpg", False),
    ("dvd.mpg", ["-c:v", "mpeg2video", "-c:a", "mp2", "-f", "vob"], "mpg", False),
    ("broadcast.ts", ["-c:v", "mpeg2video", "-c:a", "mp2", "-f", "mpegts"], "ts", False),
    ("old.flv", ["-c:v", "flv", "-c:a", "libmp3lame", "-ar", "44100"], "flv", False),
    ("windows.wmv", ["-c:v", "wmv2", "-c:a", "wmav2"], "wmv", False),
    ("free.ogv", ["-c:v", "libtheora", "-c:a", "libvorbis"], "ogv", False),
    ("xvid.avi", ["-c:v", "mpeg4", "-vtag", "XVID", "-c:a", "libmp3lame"], "avi", False),
]


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    out = tmp_path_factory.mktemp("formats")
    made = {}
    for name, options, _, _ in SAMPLES:
        path = out / name
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=176x144:rate=25:duration=1", "-f", "lavfi",
               "-i", "sine=frequency=440:duration=1", "-shortest", *options, str(path))
        made[name] = path
    return made


@pytest.mark.parametrize("name, options, fmt, native", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_each_format_is_accepted_by_content_and_gets_a_playable_copy_when_needed(samples, tmp_path, name, options,
                                                                                 fmt, native):
    # The name says nothing: the same bytes under a wrong name are read the same way.
    disguised = tmp_path / "upload.bin"
    disguised.write_bytes(samples[name].read_bytes())
    info = decode.probe(str(disguised))
    assert (info.kind, info.format) == ("video", fmt) and info.width == 176
    assert len(decode.sample_frames(str(disguised), n=4, info=info)) >= 1
    assert fmt in decode.VIDEO_CONTAINERS and decode.CONTENT_TYPES[fmt].startswith("video/")
    playback, preview = previews.preview_prepare(str(disguised), kind="video", fmt=fmt, work_dir=str(tmp_path))
    if native:
        assert (playback, preview) == (previews.NATIVE, None)
    else:
        assert playback == previews.PREVIEW and preview
        assert previews.codecs_of(preview) == ("h264", "aac")


def test_the_one_list_is_what_pages_forms_and_the_api_say(owner_client):
    page = owner_client.get(reverse("detection:upload")).content.decode()
    names = ", ".join(decode.VIDEO_NAMES)
    assert names in page and ".mpg" in page and ".3gp" in page  # the limits and the picker's accept list
    schema = owner_client.get("/api/schema/", {"format": "json"}).content.decode()
    assert names in schema


def test_an_unplayable_original_without_a_preview_says_so(owner_client, owner):
    from tests.detection.test_results import make_analysis

    media = make_analysis(owner)
    DetectionJob.objects.filter(media=media).update(playback=previews.NONE)
    page = owner_client.get(reverse("detection:result", args=[media.pk])).content.decode()
    assert 'id="player-fallback"' in page and "cannot be played in a browser" in page and '<video id="player"' not in page
    assert 'id="heatmaps"' in page  # the analysed frames instead


CLIPS = {  # from the shared face clip: the four the issue names
    "celebdf-mpeg4.mp4": ["-c:v", "mpeg4", "-q:v", "4", "-an"],
    "grid.mpg": ["-c:v", "mpeg1video", "-q:v", "4", "-an", "-f", "mpeg"],
    "phone.3gp": ["-vf", "scale=352:288", "-c:v", "h263", "-q:v", "4", "-an"],
    "hevc.mp4": ["-c:v", "libx265", "-x265-params", "log-level=error", "-tag:v", "hvc1", "-an"],
}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_mpeg4_mpg_3gp_and_hevc_uploads_get_a_verdict_and_play_in_chromium(live_server, browser, celery_worker,
                                                                          owner, clips, tmp_path, settings):
    from tests.conftest import browser_log_in
    from tests.portal.test_browser_pages import DESKTOP

    settings.UPLOADS_PER_HOUR = 100
    from django.test import Client

    client = Client()
    client.force_login(owner)
    media_ids = {}
    for name, options in CLIPS.items():
        path = tmp_path / name
        ffmpeg("-i", str(clips["face"]), *options, str(path))
        with open(path, "rb") as fh:
            response = client.post(reverse("detection:upload"), {"file": fh})
        assert response.status_code == 302, (name, response.content[:500])
        media_ids[name] = Media.objects.get(original_name=name).pk
    context, page = browser_log_in(browser, live_server.url, owner.username, reverse("detection:history"), DESKTOP)
    try:
        for name, pk in media_ids.items():
            job = wait_for_job(DetectionJob.objects.get(media_id=pk).pk, celery_worker)
            assert job.status == "done" and job.verdict in verdicts.KEYS, (name, job.error_code, celery_worker.log_tail())
            assert job.playback == previews.PREVIEW and job.preview, name
            page.goto(f"{live_server.url}{reverse('detection:result', args=[pk])}")
            assert page.locator("#player").get_attribute("src").endswith("/preview.mp4")
            page.wait_for_function("document.getElementById('player').readyState >= 2", timeout=30_000)
            assert page.locator("#player-fallback").is_hidden()
    finally:
        context.close()
