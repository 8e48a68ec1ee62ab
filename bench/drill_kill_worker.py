"""Drill: kill -9 a worker in the middle of a job; the job is claimed again and finishes, once.

    .venv/bin/python bench/drill_kill_worker.py [--jobs 3]
    .venv/bin/python bench/drill_kill_worker.py --other-host    # object storage, the worker on another host

Case 1 (the pool child dies, e.g. OOM): the Celery parent redelivers the message; the job's claim names
a dead process on this host, so it is released and claimed again at once.
Case 2 (the whole worker dies): its message stays unacknowledged in Redis; the sweeper sees the dead
claimer and sends the job again; a newly started worker finishes it.
Prints, per job: attempts, seconds from the kill to done, and duplicate frame rows (must be 0).

--other-host: files in a bucket on the S3 server, and the worker that gets killed runs on "another host"
(bench/remote_host.py: own copy, own host name, no local storage). Case 1 is the same (that host's
Celery parent redelivers and its new child sees the dead pid on its own host). In case 2 the whole host's
worker is gone and nobody on the web server's host can look at its processes: the job's heartbeat stops,
the sweeper releases and resends it after JOB_HEARTBEAT_TIMEOUT, and a worker on the web server's host
finishes it, first removing whatever the dead attempt had stored. After each case every object in the
bucket must be one a row names (no orphans).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import Stack, make_clips  # noqa: E402


def wait_running(stack: Stack, session, media_id: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = stack.sql(f"SELECT j.status, j.claimed_by, j.stage FROM detection_detectionjob j "
                         f"WHERE j.media_id = {media_id}")
        if rows and rows[0][0] == "running" and rows[0][1] and rows[0][2] not in ("starting",):
            return int(rows[0][1].rpartition(":")[2])
        time.sleep(0.05)
    raise RuntimeError(f"media {media_id} never got running: {rows}")


def wait_final(stack: Stack, media_id: int, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = stack.sql(f"SELECT status, attempts, error_code FROM detection_detectionjob WHERE media_id = {media_id}")[0]
        if row[0] in ("done", "failed"):
            return row
        time.sleep(0.3)
    return row


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2, help="kills per case")
    parser.add_argument("--other-host", action="store_true",
                        help="object storage; the killed worker runs on another host")
    parser.add_argument("--heartbeat-timeout", type=float, default=10,
                        help="JOB_HEARTBEAT_TIMEOUT for --other-host (seconds)")
    args = parser.parse_args()
    ok = True
    remote = args.other_host
    extra = {"JOB_HEARTBEAT_SECONDS": "1", "JOB_HEARTBEAT_TIMEOUT": str(args.heartbeat_timeout)} if remote else {}
    # Longer clips and more frames so a job lasts long enough to be killed mid-way.
    with Stack(workers=1, frames=32, name="killdrill", sweep_every=2, queued_after=10,
               storage="s3" if remote else "local", remote_workers=remote, extra_env=extra) as stack:
        clips = make_clips(stack.tmp / "clips", 2 * args.jobs, seconds=6, width=512)
        session = stack.session()
        where = "other host" if remote else "this host"
        for case in ("child", "whole worker"):
            for clip in clips[:args.jobs] if case == "child" else clips[args.jobs:]:
                if remote and "worker2" in stack.processes:  # back to one worker, on the other host
                    stack.kill("worker2", signal.SIGTERM)
                    del stack.processes["worker2"]
                    stack.start_worker(1, remote=True)
                _, media_id = session.upload(clip)
                pid = wait_running(stack, session, media_id)
                claim = stack.sql(f"SELECT claimed_by FROM detection_detectionjob WHERE media_id = {media_id}")[0][0]
                killed_at = time.monotonic()
                if case == "child":
                    os.kill(pid, signal.SIGKILL)  # the pool process running the job
                elif remote:
                    stack.kill("worker1")  # the other host's worker is gone for good ...
                    stack.start_worker(2)  # ... and one on the web server's host takes over
                else:
                    stack.kill("worker1")  # parent and child together
                    stack.start_worker(1)
                row = wait_final(stack, media_id, timeout=240)
                seconds = time.monotonic() - killed_at
                duplicates = stack.duplicate_frames()
                finisher = stack.sql(f"SELECT claimed_by FROM detection_detectionjob WHERE media_id = {media_id}")[0][0]
                line = (f"kill -9 {case:12s} on {where} (claim {claim}) media {media_id}: job {row[0]} after "
                        f"{seconds:.1f} s, attempts {row[1]}, finished by {finisher}, duplicate frame rows {duplicates}")
                if remote:
                    orphans = set(stack.bucket_names()) - stack.stored_names()
                    missing = stack.stored_names() - set(stack.bucket_names())
                    line += f", objects no row names {len(orphans)}, rows without their object {len(missing)}"
                    ok &= not orphans and not missing
                print(line, flush=True)
                ok &= row[0] == "done" and duplicates == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
