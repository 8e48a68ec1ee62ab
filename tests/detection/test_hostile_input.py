"""Hostile input: a corpus of 30+ files built here, each ending as a clear form or API error before anything
is queued, or as a job that a real worker ends with a reason; nothing is written outside the storage
folder, and the worker stays up (a normal clip after the corpus still finishes)."""
from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from detection import deletion
from detection.models import DetectionJob, Media

from tests.conftest import ffmpeg, wait_for_job
from tests.ml_media import FACE_CLIP_A, shared_file


@dataclass(frozen=True)
class Case:
    id: str
    name: str
    data: bytes
    error: str = ""  # the form error it must end with ("a|b": either); empty: accepted, a worker ends it


def _png(width=64, height=64, seed=0) -> bytes:
    noise = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, "PNG")
    return out.getvalue()


def _jpeg(seed=0) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(_png(seed=seed))).save(out, "JPEG")
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(side: int) -> bytes:
    """A PNG whose header claims side x side pixels, with a few KB of zlib'd zero rows."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * (1 + side * 3) * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def jpeg_claiming(side: int) -> bytes:
    """A real JPEG whose frame header (SOF0) is patched to claim side x side pixels."""
    data = bytearray(_jpeg(seed=7))
    at = data.find(b"\xff\xc0")
    data[at + 5:at + 9] = struct.pack(">HH", side, side)
    return bytes(data)


def claim_duration(mp4: bytes, seconds: int) -> bytes:
    """Patch mvhd/mdhd durations and the sample count in stts so the header claims ``seconds``."""
    data = bytearray(mp4)

    def boxes(name: bytes):
        at = data.find(name)
        while at != -1:
            yield at + 4
            at = data.find(name, at + 4)

    for name in (b"mvhd", b"mdhd"):
        for at in boxes(name):
            v1 = data[at] == 1
            off = at + 4 + (16 if v1 else 8)
            (timescale,) = struct.unpack(">I", data[off:off + 4])
            if v1:
                data[off + 4:off + 12] = struct.pack(">Q", seconds * timescale)
            else:
                data[off + 4:off + 8] = struct.pack(">I", min(seconds * timescale, 2**32 - 1))
    for at in boxes(b"stts"):
        if struct.unpack(">I", data[at + 4:at + 8])[0]:
            (count,) = struct.unpack(">I", data[at + 8:at + 12])
            data[at + 8:at + 12] = struct.pack(">I", count * seconds)
    return bytes(data)


def zero_timescale(mp4: bytes) -> bytes:
    """Every mvhd/mdhd timescale set to 0: a video that claims 0 fps."""
    data = bytearray(mp4)
    for name in (b"mvhd", b"mdhd"):
        at = data.find(name)
        while at != -1:
            off = at + 8 + (16 if data[at + 4] == 1 else 8)
            data[off:off + 4] = b"\0\0\0\0"
            at = data.find(name, at + 4)
    return bytes(data)


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("../../evil.sh", "#!/bin/sh\nrm -rf /\n")
    return out.getvalue()


def hundred_faces(out: Path) -> bytes:
    """A 10 x 10 tiling of one face frame from the shared data."""
    frame = out / "face.jpg"
    ffmpeg("-ss", "1", "-i", str(shared_file(FACE_CLIP_A)), "-frames:v", "1", "-vf", "scale=256:-2", str(frame))
    tile = np.asarray(Image.open(frame).convert("RGB"))
    grid = np.concatenate([np.concatenate([tile] * 10, axis=1)] * 10, axis=0)
    buffer = io.BytesIO()
    Image.fromarray(grid).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


DAMAGED = "damaged or incomplete|no frame that can be decoded"  # either is a clear error
UNSUPPORTED = "This is not a supported video"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[Case]:
    out = tmp_path_factory.mktemp("hostile")
    small = out / "small.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=256x144:rate=25", "-t", "1", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(small))
    webm = out / "small.webm"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=128x96:rate=10", "-t", "1", "-c:v", "libvpx", str(webm))
    audio = out / "audio.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(audio))
    mp4, webm_data = small.read_bytes(), webm.read_bytes()
    garbage = np.random.default_rng(1).bytes(200_000)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)"><script>alert(1)</script></svg>'
    html = b"<!doctype html><html><body><script>fetch('/api/v1/analyses/')</script></body></html>"
    png_ok = _png(seed=3)
    cases = [
        # Refused before anything is stored or queued.
        Case("zero-bytes", "empty.mp4", b"", "The file is empty."),
        Case("one-byte", "x.jpg", b"\xff", UNSUPPORTED),
        Case("truncated-mp4", "cut.mp4", mp4[: len(mp4) // 2], DAMAGED),
        Case("ftyp-only", "head.mp4", mp4[:32], DAMAGED),
        Case("mp4-header-then-garbage", "garbage.mp4", mp4[:2048] + garbage, DAMAGED),
        Case("png-signature-then-garbage", "garbage.png", b"\x89PNG\r\n\x1a\n" + garbage, DAMAGED),
        Case("jpeg-soi-then-garbage", "garbage.jpg", b"\xff\xd8\xff\xe0" + garbage, DAMAGED),
        Case("webp-header-then-garbage", "garbage.webp", b"RIFF\x00\x10\x00\x00WEBPVP8 " + garbage, DAMAGED),
        Case("avi-header-then-garbage", "garbage.avi", b"RIFF\x00\x10\x00\x00AVI LIST" + garbage, DAMAGED),
        Case("truncated-webm", "cut.webm", webm_data[: len(webm_data) // 3], DAMAGED),
        Case("text-named-mp4", "notes.mp4", b"just some text\n" * 50, UNSUPPORTED),
        Case("text-named-jpg", "notes.jpg", b"just some text\n" * 50, UNSUPPORTED),
        Case("zip-named-jpg", "archive.jpg", zip_bytes(), UNSUPPORTED),
        Case("zip-then-png-polyglot", "poly.png", zip_bytes() + png_ok, UNSUPPORTED),
        Case("svg-named-png", "logo.png", svg, UNSUPPORTED),
        Case("svg-named-jpg", "logo.jpg", b"<?xml version='1.0'?>" + svg, UNSUPPORTED),
        Case("html-named-jpg", "page.jpg", html, UNSUPPORTED),
        Case("html-named-mp4", "page.mp4", html, UNSUPPORTED),
        Case("pdf-named-png", "doc.png", b"%PDF-1.7\n" + garbage[:5000], UNSUPPORTED),
        Case("gif", "anim.gif", b"GIF89a" + garbage[:1000], UNSUPPORTED),
        Case("elf-named-mp4", "run.mp4", b"\x7fELF\x02\x01\x01" + garbage[:1000], UNSUPPORTED),
        Case("png-bomb-100k-px", "bomb.png", png_bomb(100_000), "larger than 8000 pixels"),
        Case("png-bomb-20k-px", "bomb2.png", png_bomb(20_000), "larger than 8000 pixels"),
        Case("jpeg-claiming-65k-px", "bomb.jpg", jpeg_claiming(65_000), "larger than 8000 pixels"),
        Case("mp4-claiming-ten-hours", "long.mp4", claim_duration(mp4, 36_000), "longer than 10 minutes"),
        Case("mp4-claiming-zero-fps", "zero.mp4", zero_timescale(mp4), "impossible frame rate"),
        # Accepted by content, whatever the name says; a worker then ends each with a reason.
        Case("mp4-named-jpg", "photo.jpg", mp4),
        # Issue 29: an MP4 holding only sound is an audio upload (m4a); a tone has no speech to judge.
        Case("audio-only-mp4", "song.mp4", audio.read_bytes()),
        Case("png-named-mp4", "clip.mp4", _png(seed=11)),
        Case("jpeg-then-zip-polyglot", "poly.jpg", _jpeg(seed=12) + zip_bytes()),
        Case("png-truncated-idat", "cut.png", _png(256, 256, seed=13)[:-400]),
        Case("path-traversal", "../../etc/passwd.mp4", _png(seed=21)),
        Case("windows-traversal", "..\\..\\windows\\win.ini.png", _png(seed=22)),
        Case("absolute-path", "/etc/cron.d/evil.png", _png(seed=23)),
        Case("control-characters", "a\x01b\x1b[31mred\x7f\tc.png", _png(seed=24)),
        Case("right-to-left-override", "\u202egnp.exe.png", _png(seed=25)),
        Case("unicode-300-chars", "\u00e9\u4e2d\U0001f600" * 100 + ".png", _png(seed=26)),
        Case("dot-htaccess", ".htaccess", _png(seed=27)),
        Case("hundred-faces", "crowd.jpg", hundred_faces(out)),
    ]
    assert len(cases) >= 30
    return cases


def upload(client, case: Case):
    return client.post(reverse("detection:upload"), {"file": SimpleUploadedFile(case.name, case.data)})


def files_under(root: Path) -> set[str]:
    return {os.path.join(d, f) for d, _, files in os.walk(root) for f in files}


@pytest.mark.django_db
def test_refused_files_end_as_a_clear_form_and_api_error(corpus, owner_client, owner, settings, tmp_path):
    from rest_framework.test import APIClient

    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.UPLOADS_PER_HOUR = 1000
    api = APIClient()
    api.force_authenticate(owner)
    refused = [case for case in corpus if case.error]
    assert len(refused) >= 25
    for case in refused:
        response = upload(owner_client, case)
        assert response.status_code == 400, case.id
        assert any(text.encode() in response.content for text in case.error.split("|")), case.id
        answer = api.post(reverse("api:analysis_list"), {"file": SimpleUploadedFile(case.name, case.data)},
                          format="multipart")
        assert answer.status_code in (400, 413), case.id
        assert answer.json()["code"], case.id
    assert Media.objects.count() == 0 and DetectionJob.objects.count() == 0
    assert files_under(tmp_path / "private") == set()  # no .incoming file left behind


@pytest.mark.worker
def test_accepted_hostile_files_end_with_a_reason_and_the_worker_stays_up(
    corpus, transactional_db, celery_worker, owner_client, owner, clips, settings, private_media_root
):
    settings.UPLOADS_PER_HOUR = 1000
    root = Path(private_media_root)
    canary_dir = root.parent / "rel-canary"
    canary_dir.mkdir(exist_ok=True)
    (canary_dir / "canary.txt").write_text("untouched")
    outside = root.parent
    before = files_under(outside) - files_under(root)
    root_before = files_under(root)  # what earlier tests left in the shared root is theirs
    passwd_mtime = os.stat("/etc/passwd").st_mtime

    accepted = [case for case in corpus if not case.error]
    jobs = {}
    for case in accepted:
        response = upload(owner_client, case)
        if response.status_code == 400:  # a name the multipart parser itself refuses: a form error is fine
            assert b"errorlist" in response.content, case.id
            continue
        assert response.status_code == 302, (case.id, response.status_code)
        media = Media.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))
        name = media.original_name
        assert "/" not in name and "\\" not in name and ".." not in name.split(".")[0:1] and len(name) <= 255
        assert all(ch.isprintable() for ch in name), (case.id, name)
        assert media.file.name.startswith("uploads/") and os.path.dirname(
            os.path.realpath(media.file.path)) == os.path.realpath(root / "uploads")
        jobs[case.id] = media.job.pk
    assert len(jobs) >= 10

    for case_id, job_id in jobs.items():
        job = wait_for_job(job_id, celery_worker, timeout=240)
        if job.status == DetectionJob.Status.FAILED:
            assert job.error_code and job.error_message, case_id
            assert "Traceback" not in job.error_message
        else:
            # A picture (whatever its name says) without a face is answered as a whole picture (issue 32);
            # anything else that ends "done" has a face or a voice.
            if job.media.kind == "image" and not job.faces_found:
                assert job.whole_image.status == "ok", (case_id, job.status)
            else:
                assert case_id in ("hundred-faces", "audio-only-mp4"), (case_id, job.status)
                assert job.faces_found > 0 or job.voice.status in ("no_speech", "ok")
    assert celery_worker.alive()
    assert DetectionJob.objects.get(pk=jobs["png-truncated-idat"]).error_code == "corrupt_media"
    traversal = DetectionJob.objects.get(pk=jobs["path-traversal"])  # stored inside the root and read as a PNG:
    assert traversal.media.kind == "image" and (traversal.error_code == "no_face" or traversal.whole_image.status == "ok")

    # The worker still does real work afterwards.
    response = owner_client.post(reverse("detection:upload"),
                                 {"file": SimpleUploadedFile("face.mp4", clips["face"].read_bytes())})
    normal = Media.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))
    job = wait_for_job(normal.job.pk, celery_worker, timeout=240)
    assert job.status == DetectionJob.Status.DONE, (job.error_code, job.error_message)
    assert celery_worker.alive()

    # Nothing was written outside the storage folder.
    after = files_under(outside) - files_under(root)
    assert after == before, sorted(after - before)
    assert (canary_dir / "canary.txt").read_text() == "untouched"
    assert os.stat("/etc/passwd").st_mtime == passwd_mtime
    assert not any(".incoming" in path for path in files_under(root))

    # Leave the shared root as this test found it.
    for media in Media.objects.filter(owner=owner):
        deletion.media_delete(media=media)
    assert files_under(root) - root_before == set()
