"""Queues and scaling with object storage: clips per minute for 1 and 2 worker processes, and how long an
image waits for its verdict while two long videos are being analysed.

    .venv/bin/python bench/queues.py                  # 24 clips per run, 2 long videos of 120 s
    .venv/bin/python bench/queues.py --clips 12 --long-seconds 60 --no-baseline

Loopback only. Each part is a throwaway stack (bench/stack.py) whose files live in its own bucket on an
S3 server (moto_server, its own process, spoken to over HTTP), and whose workers run on "another host"
(bench/remote_host.py: own copy of the repository, own host name, no PRIVATE_MEDIA_ROOT, the web
server's folders hidden) where this machine allows it.

1. Throughput: W = 1, then 2 fast-queue workers; each worker is warmed with one clip, then N distinct
   2 s, 256 px face clips are uploaded through the web form and the clock runs from the first upload to
   the last verdict.
2. Image wait: 1 fast worker and 2 long-queue workers (LONG_VIDEO_SECONDS=30). Two long face videos
   are uploaded; once both are being analysed, an image is uploaded and timed from the start of its
   upload to its verdict on the status endpoint (target: 5 s). The baseline repeats it with one queue
   for everything read by 2 workers, as before queues by type.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import remote_host  # noqa: E402
from stack import FACE_SOURCE, Stack, make_clips  # noqa: E402

TARGET_IMAGE_SECONDS = 5.0


def wait_final(session, media_ids: list[int], timeout: float, poll: float = 0.2) -> dict[int, tuple[str, float]]:
    """{media id: (final status, monotonic time it was seen final)}."""
    pending, ended = set(media_ids), {}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for media_id in list(pending):
            status, body, _ = session.status(media_id)
            if status == 200 and body and body.get("final"):
                ended[media_id] = (body["status"], time.monotonic())
                pending.discard(media_id)
        time.sleep(poll)
    return ended


def upload_all(stack: Stack, clips: list[Path], clients: int = 4) -> list[int]:
    ids: list[int] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        session = stack.session()
        for clip in clips[index::clients]:
            status, media_id = session.upload(clip)
            if media_id is None:
                raise RuntimeError(f"upload of {clip.name} answered {status}")
            with lock:
                ids.append(media_id)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ids


def throughput(workers: int, clips: int, frames: int, remote: bool) -> tuple[float, int, int]:
    with Stack(workers=workers, frames=frames, name=f"tput{workers}", storage="s3", remote_workers=remote) as stack:
        all_clips = make_clips(stack.tmp / "clips", clips + workers)
        session = stack.session()
        warm = upload_all(stack, all_clips[:workers], clients=workers)
        wait_final(session, warm, timeout=300)
        started = time.monotonic()
        ids = upload_all(stack, all_clips[workers:])
        ended = wait_final(session, ids, timeout=900)
        done = sum(1 for status, _ in ended.values() if status == "done")
        last = max((at for _, at in ended.values()), default=time.monotonic())
        per_minute = done / max(1e-9, (last - started) / 60)
        orphans = set(stack.bucket_names()) - stack.stored_names()
        print(f"  {workers} worker process{'es' if workers > 1 else ''}: {done}/{len(ids)} done in "
              f"{last - started:.1f} s -> {per_minute:.1f} clips/min; objects no row names: {len(orphans)}", flush=True)
        return per_minute, done, len(orphans)


def make_long_videos(out: Path, seconds: int, count: int = 2) -> list[Path]:
    videos = []
    for i in range(count):
        path = out / f"long{i}.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(FACE_SOURCE),
                        "-t", str(seconds), "-an", "-vf", f"scale=640:-2,hue=h={i * 20}", "-c:v", "libx264",
                        "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True, timeout=600)
        videos.append(path)
    return videos


def make_image(out: Path, name: str = "face.jpg", at: float = 1.0) -> Path:
    path = out / name
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", str(at), "-i", str(FACE_SOURCE),
                    "-frames:v", "1", "-q:v", "3", str(path)], check=True, timeout=60)
    return path


def image_wait(*, separate_queues: bool, long_seconds: int, frames: int, remote: bool) -> dict:
    threshold = "30" if separate_queues else "100000"  # baseline: every video counts as short
    # Baseline: one queue read by 2 workers, which the two long videos both occupy.
    fast, long_ = (1, 2) if separate_queues else (2, 0)
    label = "queues by work type, 1 fast + 2 long workers" if separate_queues else "one queue, 2 workers (baseline)"
    with Stack(workers=fast, long_workers=long_, frames=frames, name="imgwait" if separate_queues else "onequeue",
               storage="s3", remote_workers=remote, extra_env={"LONG_VIDEO_SECONDS": threshold}) as stack:
        media = stack.tmp / "media"
        media.mkdir()
        videos = make_long_videos(media, long_seconds)
        warm_image = make_image(media, "warm.jpg", at=0.5)
        image = make_image(media, "face.jpg", at=1.5)
        session = stack.session()
        # Warm every worker's detector so the figure is the wait, not a model load.
        warm_ids = upload_all(stack, [warm_image], clients=1)
        wait_final(session, warm_ids, timeout=300)
        video_ids = upload_all(stack, videos, clients=2)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            running = [body.get("status") for body in (session.status(i)[1] for i in video_ids)]
            if running.count("running") == len(video_ids):
                break
            time.sleep(0.1)
        started = time.monotonic()
        _, image_id = session.upload(image)
        ended = wait_final(session, [image_id], timeout=600, poll=0.05)
        status, at = ended.get(image_id, ("lost", time.monotonic()))
        waited = at - started
        states = [session.status(i)[1].get("status") for i in video_ids]
        videos_ended = wait_final(session, video_ids, timeout=900)
        video_seconds = [at - started for _, at in videos_ended.values()]
        orphans = set(stack.bucket_names()) - stack.stored_names()
        print(f"  {label}: image {status} {waited:.2f} s after its upload started; the long videos were "
              f"{states} then ({long_seconds} s each; done {statistics.mean(video_seconds):.1f} s after the image "
              f"upload on average); objects no row names: {len(orphans)}", flush=True)
        return {"status": status, "seconds": waited, "videos_running": states, "orphans": len(orphans)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24, help="clips per throughput run")
    parser.add_argument("--frames", type=int, default=8, help="DETECTOR_FRAMES for the workers")
    parser.add_argument("--long-seconds", type=int, default=120, help="length of each long video")
    parser.add_argument("--no-baseline", action="store_true", help="skip the one-queue baseline")
    parser.add_argument("--local-workers", action="store_true", help="workers in this checkout, not another host")
    args = parser.parse_args()
    remote = not args.local_workers
    where = ("on another host (own copy, own host name, web folders hidden)" if remote and
             remote_host.namespaces_available() else "in their own copy" if remote else "in this checkout")
    print(f"object storage: moto_server over HTTP; workers {where}; DETECTOR_FRAMES={args.frames}", flush=True)

    print("throughput (2 s, 256 px face clips):", flush=True)
    one, done1, orphans1 = throughput(1, args.clips, args.frames, remote)
    two, done2, orphans2 = throughput(2, args.clips, args.frames, remote)
    print(f"  scaling 1 -> 2 workers: x{two / max(one, 1e-9):.2f}", flush=True)

    print(f"image wait while two {args.long_seconds} s videos are analysed:", flush=True)
    queued = image_wait(separate_queues=True, long_seconds=args.long_seconds, frames=32, remote=remote)
    if not args.no_baseline:
        image_wait(separate_queues=False, long_seconds=args.long_seconds, frames=32, remote=remote)

    ok = (done1 == args.clips and done2 == args.clips and orphans1 == orphans2 == 0 and queued["status"] == "done"
          and queued["seconds"] <= TARGET_IMAGE_SECONDS and queued["orphans"] == 0)
    print(f"image verdict within {TARGET_IMAGE_SECONDS:.0f} s of upload: {'yes' if queued['seconds'] <= TARGET_IMAGE_SECONDS else 'no'}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
