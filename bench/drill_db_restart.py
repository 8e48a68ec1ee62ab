"""Drill: restart MariaDB while the portal is busy; pages answer 503 briefly, then recover; jobs finish.

    .venv/bin/python bench/drill_db_restart.py [--uploads 10] [--down 5]

Four pollers hit the status endpoint and the history page without pause while uploads go on; MariaDB
is stopped for --down seconds and started again (always: bench/services_ctl.py). Prints the answers
seen before, during and after, the time from "started again" to the first 200, and the jobs' end states.
Only 200, 302 and 503 are acceptable; a 500 is a failure.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import services_ctl  # noqa: E402
from stack import Stack, make_clips  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uploads", type=int, default=10)
    parser.add_argument("--down", type=float, default=5, help="seconds MariaDB stays down")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    with Stack(workers=2, name="dbdrill", sweep_every=2, queued_after=10) as stack:
        clips = make_clips(stack.tmp / "clips", args.uploads)
        uploader = stack.session()
        media_ids = [uploader.upload(clip)[1] for clip in clips[: args.uploads // 2]]
        answers: list[tuple[float, str, int]] = []
        stop = threading.Event()
        lock = threading.Lock()
        start = time.monotonic()

        def poller(session) -> None:
            i = 0
            while not stop.is_set():
                path = f"/media/{media_ids[i % len(media_ids)]}/status/" if i % 2 else "/history/"
                try:
                    status = session.get(path, timeout=30)[0]
                except Exception:  # noqa: BLE001 - a refused or reset connection
                    status = 0
                with lock:
                    answers.append((time.monotonic() - start, path.split("/")[1], status))
                i += 1
                time.sleep(0.05)

        sessions = [stack.session() for _ in range(4)]  # logged in before the database goes away
        threads = [threading.Thread(target=poller, args=(session,)) for session in sessions]
        for thread in threads:
            thread.start()
        time.sleep(2)
        down_at = time.monotonic() - start
        try:
            services_ctl.stop_mariadb()
            stopped_at = time.monotonic() - start
            time.sleep(args.down)
        finally:
            services_ctl.start_mariadb()
        up_at = time.monotonic() - start
        for clip in clips[args.uploads // 2:]:
            status, media_id = uploader.upload(clip)
            if media_id:
                media_ids.append(media_id)
        time.sleep(3)
        stop.set()
        for thread in threads:
            thread.join()

        def phase(t: float) -> str:
            return "before" if t < down_at else "during" if t < up_at else "after"

        table = Counter((phase(t), status) for t, _, status in answers)
        first_ok = min((t for t, _, s in answers if t >= up_at and s == 200), default=float("nan"))
        print(f"MariaDB stopped {down_at:.1f}-{stopped_at:.1f} s, started again at {up_at:.1f} s")
        for name in ("before", "during", "after"):
            print(f"  {name:6s}: " + ", ".join(f"{s or 'no answer'}: {n}" for (p, s), n in sorted(table.items()) if p == name))
        print(f"first 200 {first_ok - up_at:.1f} s after MariaDB was back")
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            counts = stack.job_counts()
            if counts.get("done", 0) + counts.get("failed", 0) == len(media_ids):
                break
            time.sleep(1)
        print(f"jobs: {counts} of {len(media_ids)} uploads; duplicate frame rows {stack.duplicate_frames()}")
        errors_500 = sum(n for (p, s), n in table.items() if s >= 500 and s != 503)
        ok = errors_500 == 0 and counts.get("done", 0) == len(media_ids) and first_ok == first_ok
        print("PASS" if ok else f"FAIL ({errors_500} answers were 5xx other than 503)")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
