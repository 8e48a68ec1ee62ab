"""deepfake-portal analyze FILE [--wait] | status ID | report ID | live VIDEO  (base URL, token: flags or env)."""
from __future__ import annotations

import argparse
import json
import os
import sys

from .client import PortalClient, PortalError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepfake-portal", description=__doc__)
    parser.add_argument("--base-url", default=os.environ.get("DEEPFAKE_PORTAL_URL", "http://127.0.0.1:8000"),
                        help="the portal's address (env DEEPFAKE_PORTAL_URL)")
    parser.add_argument("--token", default=os.environ.get("DEEPFAKE_PORTAL_TOKEN"),
                        help="an API token from your profile page (env DEEPFAKE_PORTAL_TOKEN)")
    commands = parser.add_subparsers(dest="command", required=True)
    analyze = commands.add_parser("analyze", help="upload a file for analysis")
    analyze.add_argument("file")
    analyze.add_argument("--wait", action="store_true", help="wait until the analysis ends")
    analyze.add_argument("--callback-url", help="a URL to POST the result to when it ends")
    analyze.add_argument("--timeout", type=float, default=900.0, help="seconds to wait at most (with --wait)")
    analyze.add_argument("--poll", type=float, default=2.0, help="seconds between status checks")
    status = commands.add_parser("status", help="show one analysis")
    status.add_argument("id", type=int)
    report = commands.add_parser("report", help="download an ended analysis's full report")
    report.add_argument("id", type=int)
    report.add_argument("-o", "--output", help="write the report to this file instead of stdout")
    live = commands.add_parser("live", help="stream a video to the live check, printing each answer (needs ffmpeg "
                                             "and the websockets package: pip install './client[live]')")
    live.add_argument("video")
    live.add_argument("--seconds", type=float, help="stop after this long (default: at the video's end)")
    live.add_argument("--loop", action="store_true", help="play the video again and again (with --seconds)")
    live.add_argument("--fps", type=float, default=5.0, help="frames a second at most")
    live.add_argument("--save", action="store_true", help="save the session as an upload at the end")
    return parser


def live_command(args) -> int:
    """One JSON line per answer (heatmaps left out), then a summary line."""
    import asyncio

    from .live import LiveError, stream_video

    def show(message: dict) -> None:
        print(json.dumps({k: v for k, v in message.items() if k != "heatmap"}), flush=True)

    try:
        summary = asyncio.run(stream_video(args.base_url, args.token, args.video, seconds=args.seconds,
                                           loop=args.loop, fps=args.fps, save=args.save, on_answer=show))
    except ImportError:
        print("deepfake-portal: live needs the websockets package: pip install './client[live]'", file=sys.stderr)
        return 2
    except (LiveError, OSError) as exc:
        print(f"deepfake-portal: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"type": "summary", "sent": summary.sent, "scored": summary.scored, "dropped": summary.dropped,
                      "running": summary.running, "verdict": summary.verdict, "p50_ms": summary.p50_ms,
                      "p95_ms": summary.p95_ms, "saved_url": summary.saved_url, "save_error": summary.save_error}))
    return 1 if args.save and not summary.saved_url else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.token:
        print("deepfake-portal: no token: pass --token or set DEEPFAKE_PORTAL_TOKEN", file=sys.stderr)
        return 2
    if args.command == "live":
        return live_command(args)
    client = PortalClient(args.base_url, args.token)
    try:
        if args.command == "analyze":
            result = client.analyze(args.file, callback_url=args.callback_url, wait=args.wait,
                                    poll_interval=args.poll, wait_timeout=args.timeout)
        elif args.command == "status":
            result = client.status(args.id)
        else:
            result = client.report(args.id)
            if args.output:
                with open(args.output, "w") as fh:
                    json.dump(result, fh, indent=2)
                print(args.output)
                return 0
    except PortalError as exc:
        print(f"deepfake-portal: {exc}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError) as exc:
        print(f"deepfake-portal: {exc}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout, indent=2)
    print()
    # With --wait, a failed analysis is a failure of the command too.
    return 3 if args.command == "analyze" and args.wait and result.get("status") == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
