"""Load drill: N uploads from C concurrent clients against a loopback stack with W workers.

    .venv/bin/python bench/load.py                    # 200 uploads, 20 clients, 2 workers
    .venv/bin/python bench/load.py --uploads 20 --clients 5 --timeout 300

Each client logs in, uploads its share of small face clips (2 s, 256 px, from the shared data, every one
distinct) through the web form, then polls the status endpoint of each of its uploads until it is final.
Prints the CPU features and threads per worker, done/failed/lost/duplicated counts, throughput (clips per
minute, first upload to last job ended) and the status endpoint's p50/p95 latency measured while the queue
drains. Goal (issue 30): >= 200 clips a minute with 2 workers, nothing lost or duplicated.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from stack import Stack, make_clips, percentile  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--frames", type=int, default=0,
                        help="DETECTOR_FRAMES for the workers (0: what the portal serves, the model card's count)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds for the whole drill")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between a client's status polls")
    args = parser.parse_args()

    with Stack(workers=args.workers, frames=args.frames, name="load") as stack:
        clips = make_clips(stack.tmp / "clips", args.uploads)
        from ml.inference import cpu_features

        print(f"stack up at {stack.base}: {args.workers} workers, DETECTOR_FRAMES={args.frames}, "
              f"{cpu_features.worker_threads({'DETECTOR_WORKERS_PER_HOST': str(args.workers)})} thread(s) each; "
              f"{cpu_features.describe()}; "
              f"{args.uploads} clips (2 s, 256 px) from {args.clients} clients", flush=True)
        latencies: list[float] = []
        upload_seconds: list[float] = []
        outcomes: dict[int, str] = {}
        errors: list[str] = []
        lock = threading.Lock()
        deadline = time.monotonic() + args.timeout
        started = time.monotonic()
        finished_at = [started]

        def client(index: int) -> None:
            try:
                session = stack.session()
            except Exception as exc:  # noqa: BLE001
                with lock:
                    errors.append(f"client {index} login: {exc}")
                return
            mine = []
            for clip in clips[index::args.clients]:
                t0 = time.perf_counter()
                try:
                    status, media_id = session.upload(clip)
                except Exception as exc:  # noqa: BLE001
                    status, media_id = f"error {exc}", None
                with lock:
                    upload_seconds.append(time.perf_counter() - t0)
                    if media_id is None:
                        errors.append(f"upload {clip.name}: {status}")
                if media_id is not None:
                    mine.append(media_id)
            pending = set(mine)
            while pending and time.monotonic() < deadline:
                for media_id in list(pending):
                    try:
                        status, body, elapsed = session.status(media_id)
                    except Exception as exc:  # noqa: BLE001
                        with lock:
                            errors.append(f"status {media_id}: {exc}")
                        continue
                    with lock:
                        latencies.append(elapsed)
                    if status == 200 and body and body.get("final"):
                        pending.discard(media_id)
                        with lock:
                            outcomes[media_id] = body["status"]
                            finished_at[0] = max(finished_at[0], time.monotonic())
                time.sleep(args.poll)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        counts = stack.job_counts()
        done = sum(1 for s in outcomes.values() if s == "done")
        failed = sum(1 for s in outcomes.values() if s == "failed")
        accepted = sum(counts.values())
        lost = args.uploads - done - failed
        duplicated = stack.duplicate_frames() + max(0, accepted - args.uploads)
        minutes = max(1e-9, (finished_at[0] - started) / 60)
        print(f"uploads: {args.uploads} sent, {accepted} jobs created; upload p50 "
              f"{percentile(upload_seconds, 50) * 1000:.0f} ms, p95 {percentile(upload_seconds, 95) * 1000:.0f} ms")
        print(f"done {done}  failed {failed}  lost {lost}  duplicated {duplicated}  (jobs by status: {counts})")
        print(f"throughput: {done / minutes:.1f} clips/min ({done} done in {minutes * 60:.0f} s)")
        print(f"status endpoint under load: {len(latencies)} requests, p50 {percentile(latencies, 50) * 1000:.0f} ms, "
              f"p95 {percentile(latencies, 95) * 1000:.0f} ms")
        for line in errors[:10]:
            print("error:", line)
        if failed:
            print("failed jobs:", stack.sql("SELECT error_code, COUNT(*) FROM detection_detectionjob "
                                            "WHERE status='failed' GROUP BY error_code"))
        return 0 if done == args.uploads and duplicated == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
