"""Check one video's lip sync from the command line: ``python -m ml.sync.check FILE [FILE ...]``.

Prints one JSON object per file (``SyncResult.to_dict()``); exit status 0 even when a file is bad
(its status says so), 2 on a usage error.
"""
from __future__ import annotations

import argparse
import json

import cv2

from ml.sync.checker import SyncChecker


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--window", type=float, default=None, help="seconds of video to analyse")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)  # the machine is shared: one core
    checker = SyncChecker() if args.window is None else SyncChecker(window_s=args.window)
    for path in args.files:
        print(json.dumps({"path": path, **checker.check(path).to_dict()}))


if __name__ == "__main__":
    main()
