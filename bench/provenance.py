"""What reading provenance adds to a job: a typical image and a 10-second 720p clip, with and without C2PA.

    python bench/provenance.py [--runs 20]

Times the worker's own reading step (provenance.services' reading, without its one database write): the
C2PA manifest store, read in the reading process, and the IPTC/XMP/EXIF labels or container tags. Prints the
median of --runs warm reads (the reading process already started) and the one-time start of that process.
Targets (issue 22): under 50 ms for a typical image, under 200 ms for a 10 s clip.
The media are made here from a real face clip in the shared data: a 1280x720 JPEG still, a 4000x3000 JPEG
(the still enlarged, with grain, about a phone photo's size) and a 10 s 720p H.264 clip (ffmpeg defaults),
each also signed with a C2PA AI claim by a test certificate made as the tests make theirs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepfake_portal.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
SOURCE = Path(os.environ.get("DEEPFAKE_DATA", REPO.parent / "shared" / "data")) / "train" / \
    "KwaiVGI_LivePortrait/assets/examples/source/s18.mp4"
TARGET_MS = {"image": 50, "video": 200}


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def make_media(out: Path, anchors: Path) -> dict[str, tuple[Path, str, str]]:
    from tests import provenance_media as pm

    still, photo, clip = out / "still-720p.jpg", out / "photo-12mp.jpg", out / "clip-10s-720p.mp4"
    ffmpeg("-ss", "1", "-i", str(SOURCE), "-frames:v", "1", "-vf", "scale=1280:-2", "-q:v", "3", str(still))
    ffmpeg("-ss", "1", "-i", str(SOURCE), "-frames:v", "1", "-vf", "scale=4000:3000,noise=alls=12", "-q:v", "2",
           str(photo))
    ffmpeg("-stream_loop", "2", "-i", str(SOURCE), "-t", "10", "-an", "-vf", "scale=-2:720", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(clip))
    authority = pm.CertificateAuthority("Bench Root CA")
    anchors.write_bytes(authority.root_pem)
    media = {"image": (still, "jpg", "image"), "image, 12 MP photo": (photo, "jpg", "image"),
             "video": (clip, "mp4", "video")}
    for name, (path, fmt, kind) in list(media.items()):
        signed = path.with_name(f"signed-{path.name}")  # its C2PA read hashes the whole file
        signed.write_bytes(pm.sign(path.read_bytes(), "image/jpeg" if kind == "image" else "video/mp4",
                                   authority.issue("Bench Signer"), generator="Bench AI",
                                   source_type="trainedAlgorithmicMedia"))
        media[f"{name}, signed (C2PA AI claim)"] = (signed, fmt, kind)
    return media


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if not SOURCE.is_file():
        sys.exit(f"shared data not found: {SOURCE} (set DEEPFAKE_DATA)")
    import django

    django.setup()
    from django.conf import settings

    from provenance import services

    with tempfile.TemporaryDirectory(prefix="provenance-bench-") as tmp:
        anchors = Path(tmp) / "anchors.pem"
        media = make_media(Path(tmp), anchors)
        settings.PROVENANCE_TRUST_ANCHORS = str(anchors)
        first = next(iter(media.values()))
        started = time.perf_counter()
        services._read(SimpleNamespace(format=first[1], kind=first[2]), str(first[0]))
        print(f"first read, reading process started: {1000 * (time.perf_counter() - started):.0f} ms (once per "
              "worker process)")
        print(f"{'media':42} {'size':>9} {'median':>9} {'max':>9}  status")
        for name, (path, fmt, kind) in media.items():
            fake_media = SimpleNamespace(format=fmt, kind=kind)
            times, fields = [], None
            for _ in range(args.runs):
                started = time.perf_counter()
                fields = services._read(fake_media, str(path))
                times.append(1000 * (time.perf_counter() - started))
            target = TARGET_MS[name.split(",")[0]]
            median = statistics.median(times)
            verdict = "ok" if median < target else "OVER TARGET"
            print(f"{name:42} {path.stat().st_size / 1e6:7.2f}MB {median:7.1f}ms {max(times):7.1f}ms  "
                  f"{fields['c2pa_status']}, {len(fields['labels'])} labels; target < {target} ms: {verdict}")


if __name__ == "__main__":
    main()
