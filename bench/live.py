"""Live check bench: a face clip streamed over real WebSockets, as a camera would, by 1 and then 4 users at once.

    .venv/bin/python bench/live.py                       # its own stack: daphne + 2 Celery workers on the live queue
    .venv/bin/python bench/live.py --scorer pool         # ... frames scored in daphne's own process pool instead
    .venv/bin/python bench/live.py --web uvicorn         # ... served by uvicorn (pip install uvicorn first)
    .venv/bin/python bench/live.py --url http://127.0.0.1:8000 --token dfp_1 --token dfp_2 ...   # a running
                                                          # `make run-stack` (one token per user; 4 for 4 sessions)

Each session is the Python client's `stream_video` (client/deepfake_portal_client/live.py): ffmpeg plays the
clip in real time, the latest picture goes out whenever the server's in-flight limit allows (at most --fps a
second), so the rate follows the answers, as on the live page. After a warm-up (every worker loads the
detector), each run prints per session and in all: frames sent, scored per second, answer latency p50/p95
(frame sent to its score back) and dropped frames by reason. Goal (issue 30): one session scores >= 8 frames
a second with p95 latency under 300 ms. Its own stack lets a session keep --in-flight frames in flight
(LIVE_IN_FLIGHT) at up to --fps a second (LIVE_MAX_FPS), so two scoring processes work on one session at once.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "client"))
from stack import FACE_SOURCE, Stack, percentile  # noqa: E402

from deepfake_portal_client.live import stream_video  # noqa: E402


async def sessions(base: str, tokens: list[str], args, seconds: float):
    return await asyncio.gather(*(stream_video(base, token, args.clip, seconds=seconds, loop=True, fps=args.fps,
                                               side=args.side) for token in tokens))


def report(label: str, summaries) -> dict:
    latencies = [ms for s in summaries for ms in s.latencies_ms]
    dropped: dict[str, int] = {}
    for s in summaries:
        for reason, n in s.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + n
    total = {
        "sent": sum(s.sent for s in summaries),
        "scored_per_s": sum(s.scored_per_second for s in summaries),
        "p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
        "dropped": sum(dropped.values()),
    }
    print(f"\n{label}")
    for i, s in enumerate(summaries, 1):
        print(f"  session {i}: sent {s.sent}, scored {s.scored} ({s.scored_per_second:.2f}/s, {s.faces} with a face), "
              f"latency p50 {s.p50_ms:.0f} ms p95 {s.p95_ms:.0f} ms, "
              f"dropped {sum(s.dropped.values())} {s.dropped or ''}")
    print(f"  in all: {total['scored_per_s']:.2f} frames scored/s; latency p50 {total['p50']:.0f} ms, "
          f"p95 {total['p95']:.0f} ms; dropped {total['dropped']} of {total['sent']} sent {dropped or ''}", flush=True)
    return total


def make_tokens(stack: Stack, count: int) -> list[str]:
    code = ("from django.contrib.auth.models import User; from api.services import token_create\n"
            f"for i in range({count}):\n"
            "    user = User.objects.create_user(f'live{i}', f'live{i}@example.com', 'x-bench-passphrase-1')\n"
            "    print('TOKEN', token_create(user=user, name='bench').raw)\n")
    return [line.split()[1] for line in stack.manage("shell", "-c", code).splitlines() if line.startswith("TOKEN ")]


def run(base: str, tokens: list[str], args) -> bool:
    print(f"warm-up: {min(2, len(tokens))} sessions for {args.warmup:.0f} s", flush=True)
    asyncio.run(sessions(base, tokens[:2], args, args.warmup))
    one = report(f"1 session, {args.seconds:.0f} s:", asyncio.run(sessions(base, tokens[:1], args, args.seconds)))
    if len(tokens) >= 4:
        four = asyncio.run(sessions(base, tokens[:4], args, args.seconds))
        report(f"4 sessions at once, {args.seconds:.0f} s:", four)
    ok = one["p95"] < 300 and one["scored_per_s"] >= 8
    print(f"\n{'PASS' if ok else 'FAIL'}: one session p95 {one['p95']:.0f} ms (goal < 300), "
          f"{one['scored_per_s']:.2f} scored/s (goal >= 8)")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running portal (e.g. `make run-stack`); default: start a stack here")
    parser.add_argument("--token", action="append", default=[], help="an API token per user (with --url)")
    parser.add_argument("--clip", default=str(FACE_SOURCE), help="the video each session streams (looped)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each measured run")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=10.0, help="frames a second at most per session (the page: 5)")
    parser.add_argument("--in-flight", type=int, default=2, help="LIVE_IN_FLIGHT: frames of a session scored at once "
                                                                 "(own stack; the default setting is 1)")
    parser.add_argument("--side", type=int, default=480, help="frames' long side at most, px (the page: 480 for the "
                                                              "whole picture, 320 for the region around a face)")
    parser.add_argument("--scorer", choices=("celery", "pool"), default="celery", help="LIVE_SCORER (own stack)")
    parser.add_argument("--workers", type=int, default=2, help="live queue workers, or pool processes (own stack)")
    parser.add_argument("--web", choices=("daphne", "uvicorn"), default="daphne", help="the ASGI server (own stack)")
    parser.add_argument("--threads", type=int, default=1, help="DETECTOR_THREADS per scoring process (own stack; "
                                                               "1 as `make run-stack`'s LIVE_THREADS; 0: min(2, CPUs))")
    args = parser.parse_args()

    if args.url:
        if not args.token:
            parser.error("--url needs --token (one per user; 4 users for the 4-session run)")
        return 0 if run(args.url.rstrip("/"), args.token, args) else 1
    env = {"LIVE_SCORER": args.scorer, "LIVE_POOL_PROCESSES": str(args.workers), "LIVE_IN_FLIGHT": str(args.in_flight),
           "LIVE_MAX_FPS": str(args.fps)}
    if args.threads:
        env["DETECTOR_THREADS"] = str(args.threads)
    with Stack(workers=1, name="live", web=args.web, web_workers=1, extra_env=env,
               live_workers=args.workers if args.scorer == "celery" else 0) as stack:
        tokens = make_tokens(stack, 4)
        scorers = f"{args.workers} Celery workers" if args.scorer == "celery" else f"a pool of {args.workers} processes"
        print(f"stack up at {stack.base}: {args.web}, frames scored by {scorers} "
              f"(DETECTOR_THREADS={args.threads or 'default'}, LIVE_IN_FLIGHT={args.in_flight}); "
              f"clip {Path(args.clip).name} at up to {args.side} px, "
              f"at most {args.fps:g} frames/s per session", flush=True)
        return 0 if run(stack.base, tokens, args) else 1


if __name__ == "__main__":
    sys.exit(main())
