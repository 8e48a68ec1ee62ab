"""Drill: stop Redis during a burst of uploads, start it again; every job still finishes.

    .venv/bin/python bench/drill_redis_outage.py [--uploads 20] [--outage 10]

Redis runs without persistence here, so every queued message is lost with it. Uploads during the
outage still succeed (the job row is committed; sending the message fails and is logged); workers
reconnect when Redis is back; the sweeper resends every queued job whose message is gone.
Redis is started again whatever happens (bench/services_ctl.py).
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import services_ctl  # noqa: E402
from stack import Stack, make_clips  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--outage", type=float, default=10, help="seconds Redis stays down")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    with Stack(workers=2, name="redisdrill", sweep_every=2, queued_after=8) as stack:
        clips = make_clips(stack.tmp / "clips", args.uploads)
        results: list[tuple[float, int]] = []
        lock = threading.Lock()
        start = time.monotonic()

        def client(i: int) -> None:
            session = stack.session()
            for clip in clips[i::args.clients]:
                status, _ = session.upload(clip)
                with lock:
                    results.append((time.monotonic() - start, status))
                time.sleep(0.5)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        down_at = time.monotonic() - start
        try:
            services_ctl.stop_redis()
            print(f"Redis stopped at {down_at:.1f} s", flush=True)
            time.sleep(args.outage)
        finally:
            services_ctl.start_redis()
        up_at = time.monotonic() - start
        print(f"Redis started again at {up_at:.1f} s", flush=True)
        for thread in threads:
            thread.join()
        during = [s for t, s in results if down_at <= t <= up_at]
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            counts = stack.job_counts()
            if counts.get("done", 0) + counts.get("failed", 0) == args.uploads:
                break
            time.sleep(1)
        drained = time.monotonic() - start
        requeues = int(stack.sql("SELECT COALESCE(SUM(requeues), 0) FROM detection_detectionjob")[0][0])
        statuses = {s: sum(1 for _, x in results if x == s) for _, s in results}
        print(f"uploads: {len(results)} answered {statuses}; {len(during)} during the outage")
        print(f"jobs: {counts}; sweeper resent {requeues}; all final {drained - up_at:.1f} s after Redis came back")
        print(f"duplicate frame rows: {stack.duplicate_frames()}")
        ok = counts.get("done", 0) == args.uploads and stack.duplicate_frames() == 0
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
