"""Evaluate a checkpoint: ``python -m ml.evaluate --checkpoint PATH`` (the command line; the parts live beside it).

Two separate runs, never mixed:

- **own test split** (``own_split``): held-out identities of ``data/train`` with the project's pseudo-fakes
  (self-blended, face swaps, steady / flickering sequences) and the labelled fake photos; crops from
  the ``ml.training.prepare`` cache; frame-level and clip-level, per method, and a robustness table on clips
  (a real libx264 re-encode of the crop sequence at CRF 23 and 35, JPEG 90 and 50, the face as small as
  in a 360p frame, blur, noise, brightness +-30%).
- **dev** (``dev_run``; ``data/dev``, media nobody here made): every video and image through the full inference
  path (``sample_frames`` -> ``FaceFinder.track`` -> ``crop_face`` -> model; the item's score is its
  highest face track's), videos and images separately, per method, and the same robustness table with
  the perturbation applied to the media (videos re-encoded as files with libx264; 360p is the whole
  frame scaled to 360 lines); faces are found once on the clean media and reused under each condition,
  so the table measures the classifier rather than the face finder.

Metrics: accuracy, precision, recall, F1 at the card's threshold, ROC AUC, confusion matrix, ECE.
Both clip rules are reported: ``lstm`` (sigmoid of the clip logit, what the card ships) and ``mean``
(mean of the frame probabilities). Writes ``eval.json``, ``eval.md`` (``report``) and ``roc.png``
(``roc_plot``) to ``--out-dir``; ``--update-card`` stores the results in the checkpoint's card,
``--model-card PATH`` writes the Markdown model card (``model_card``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ml.evaluation.dev_run import evaluate_dev
from ml.evaluation.model_card import model_card_markdown, update_card
from ml.evaluation.own_split import evaluate_own
from ml.evaluation.report import markdown
from ml.evaluation.roc_plot import roc_plot
from ml.media import degradations
from ml.models.checkpoint import load_checkpoint
from ml.training.prepare import REPO, data_root


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=REPO / "ml" / "weights" / "detector.pt")
    parser.add_argument("--out-dir", type=Path, default=None, help="default runs/eval-<version>")
    parser.add_argument("--cache", type=Path, default=None, help="crop cache of ml.training.prepare")
    parser.add_argument("--test-frames", type=int, default=1000)
    parser.add_argument("--test-clips", type=int, default=200)
    parser.add_argument("--robust-clips", type=int, default=60)
    parser.add_argument("--no-own", action="store_true")
    parser.add_argument("--no-dev", action="store_true")
    parser.add_argument("--no-robustness", action="store_true")
    parser.add_argument("--dev-conditions", default=",".join(degradations.ROBUSTNESS), help="comma-separated")
    parser.add_argument("--dev-images", type=int, default=None, help="only the first N dev images")
    parser.add_argument("--dev-videos", type=int, default=None, help="only the first N dev videos")
    parser.add_argument("--frames", type=int, default=32, help="frames per dev video")
    parser.add_argument("--update-card", action="store_true", help="store the results in the checkpoint's card")
    parser.add_argument("--model-card", type=Path, default=None, help="write the Markdown model card here")
    parser.add_argument("--dev-eval-json", type=Path, default=None,
                        help="ml.evaluation.dev_eval's JSON for this checkpoint: its dev figures go into the card and the report")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(2)
    model, card = load_checkpoint(args.checkpoint)
    out_dir = args.out_dir or REPO / "runs" / f"eval-{card['version']}"
    out_dir.mkdir(parents=True, exist_ok=True)
    logfh = open(out_dir / "eval.log", "a")

    def log(msg):
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        logfh.write(line + "\n")
        logfh.flush()

    report, curves = {"checkpoint": str(args.checkpoint), "version": card["version"], "threshold": card["threshold"]}, {}
    if not args.no_own:
        report["own"], rocs = evaluate_own(model, card, cache=args.cache, n_frames=args.test_frames, n_clips=args.test_clips,
                                           n_robust=args.robust_clips, robustness=not args.no_robustness, log=log)
        curves.update(rocs)
    if not args.no_dev:
        conditions = ["clean"] + ([c for c in args.dev_conditions.split(",") if c and c != "clean"] if not args.no_robustness else [])
        dev = evaluate_dev(model, card, data_root() / "dev", conditions=conditions, n_frames=args.frames,
                           limit_images=args.dev_images, limit_videos=args.dev_videos, log=log)
        report["dev"] = dev
        for kind in ("video", "image"):
            ok = [r for r in dev["items"] if r["kind"] == kind and r["status"] == "ok"]
            curves[f"dev {kind}s (shipped)"] = ([r["label"] == "fake" for r in ok], [r["score"] for r in ok])
            if kind == "video":
                curves["dev videos (mean of frames)"] = ([r["label"] == "fake" for r in ok], [r["mean"] for r in ok])
    if args.dev_eval_json:
        rows = [r for r in json.loads(args.dev_eval_json.read_text()) if r["version"] == card["version"]]
        if rows:
            report["dev_cached"] = {k: rows[0][k] for k in ("video", "image", "cam", "own_test_frame_auc") if k in rows[0]}
    (out_dir / "eval.json").write_text(json.dumps(report, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    (out_dir / "eval.md").write_text(markdown(card, report))
    roc_plot(curves, out_dir / "roc.png")
    log(f"wrote {out_dir}/eval.json, eval.md, roc.png")
    if args.update_card:
        update_card(args.checkpoint, report)
        log(f"updated the card in {args.checkpoint}")
    if args.model_card:
        _, card = load_checkpoint(args.checkpoint)
        args.model_card.write_text(model_card_markdown(card, report, out_dir))
        log(f"wrote {args.model_card}")


if __name__ == "__main__":
    sys.exit(main())
