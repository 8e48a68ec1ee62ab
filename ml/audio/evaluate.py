"""Judge the shipped voice model on dev (systems train never has), clean and degraded.

    python -m ml.audio.evaluate [--onnx ml/weights/voice.onnx] [--json OUT] [--boot 1000]

Each dev clip goes through the worker's own path (``VoicePredictor.analyse``: voice activity, features,
ONNX Runtime, calibration) clean, after MP3 at 32 kbit/s (cached, ``ml.audio.data``) and after the
telephone band (300-3,400 Hz at 8 kHz). Prints ROC AUC and EER with bootstrap 95% intervals, accuracy,
precision, recall and F1 at the card's threshold, class-weighted ECE, the drops under degradation, AUC by
kind of system and by unseen system, and the 40 ``samples/`` clips' AUC.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from ml.audio import data, degrade
from ml.audio.metrics import at_threshold
from ml.audio.predictor import VoicePrediction, VoicePredictor
from ml.metrics import bootstrap, ece, eer, roc_auc

CONDITIONS = {"clean": "clean", "mp3_32k": "mp3_32", "phone": "phone"}
def samples_dir() -> Path:
    """shared/data/audio/samples beside the repository, or under $DEEPFAKE_DATA."""
    root = os.environ.get("DEEPFAKE_DATA") or Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return Path(root) / "audio" / "samples"


def score_wave(vp: VoicePredictor, wave: np.ndarray) -> float | None:
    result = vp.analyse(wave, VoicePrediction("", "error", duration_s=len(wave) / 16000))
    return result.score if result.status == "ok" else None


def score_dev(vp: VoicePredictor, clips: list[data.Clip]) -> dict[str, list]:
    out = {c: [] for c in CONDITIONS}
    for i, clip in enumerate(clips):
        clean = data.load(clip, "clean")
        out["clean"].append(score_wave(vp, clean))
        out["mp3_32k"].append(score_wave(vp, data.load(clip, "mp3_32")))
        out["phone"].append(score_wave(vp, degrade.phone_band(clean)))
        if i % 50 == 0:
            print(f"{i}/{len(clips)}", file=sys.stderr, flush=True)
    return out


def summarise(labels: np.ndarray, probs: list, threshold: float, boot: int) -> dict:
    keep = np.array([p is not None for p in probs])
    y, p = labels[keep], np.array([q for q in probs if q is not None], float)
    return {"n": int(keep.sum()), "not_scored": int((~keep).sum()),
            "auc": roc_auc(y, p), "auc_ci": list(bootstrap(roc_auc, y, p, rounds=boot)),
            "eer": eer(y, p), "eer_ci": list(bootstrap(eer, y, p, rounds=boot)),
            "ece": ece(y, p, balanced=True), **at_threshold(y, p, threshold)}


def by_group(labels, probs, keys) -> dict[str, float]:
    """AUC of each key's fakes against all real clips (each unseen system, each kind)."""
    reals = [p for p, y in zip(probs, labels) if y == 0 and p is not None]
    groups = defaultdict(list)
    for p, y, k in zip(probs, labels, keys):
        if y == 1 and p is not None:
            groups[k].append(p)
    return {k: round(roc_auc([0] * len(reals) + [1] * len(v), reals + v), 3) for k, v in sorted(groups.items())}


def score_samples(vp: VoicePredictor) -> dict | None:
    labels_csv = samples_dir() / "labels.csv"
    if not labels_csv.exists():
        return None
    with open(labels_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    y = [int(r["label"] == "fake") for r in rows]
    s = [vp.predict(labels_csv.parent / Path(r["path"]).name).score for r in rows]
    keep = [i for i, v in enumerate(s) if v is not None]
    return {"n": len(keep), "auc": roc_auc([y[i] for i in keep], [s[i] for i in keep])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.audio.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", default=None)
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--boot", type=int, default=1000)
    args = parser.parse_args(argv)
    vp = VoicePredictor.load(args.onnx)
    clips = data.read_manifest("dev")
    labels = np.array([c.label for c in clips])
    probs = score_dev(vp, clips)
    report = {"model_version": vp.version, "threshold": vp.threshold, "dev_clips": {"real": int((labels == 0).sum()),
              "fake": int((labels == 1).sum())}, "conditions": {}}
    for cond in CONDITIONS:
        report["conditions"][cond] = summarise(labels, probs[cond], vp.threshold, args.boot)
    clean_auc = report["conditions"]["clean"]["auc"]
    report["auc_drop"] = {c: clean_auc - report["conditions"][c]["auc"] for c in ("mp3_32k", "phone")}
    report["auc_by_unseen_system"] = by_group(labels, probs["clean"], [c.method for c in clips])
    report["auc_by_kind"] = by_group(labels, probs["clean"], [c.kind for c in clips])
    report["samples"] = score_samples(vp)
    report["validation_from_card"] = vp.card.get("metrics", {}).get("validation")
    print(f"voice model {vp.version}, threshold {vp.threshold:.2f}; dev: {report['dev_clips']}")
    print("| condition | n | ROC AUC [95% CI] | EER [95% CI] | accuracy | precision | recall | F1 | ECE |")
    print("|---|---|---|---|---|---|---|---|---|")
    for cond, r in report["conditions"].items():
        print(f"| {cond} | {r['n']} | {r['auc']:.3f} [{r['auc_ci'][0]:.3f}, {r['auc_ci'][1]:.3f}] | {r['eer']:.3f} "
              f"[{r['eer_ci'][0]:.3f}, {r['eer_ci'][1]:.3f}] | {r['accuracy']:.3f} | {r['precision']:.3f} | "
              f"{r['recall']:.3f} | {r['f1']:.3f} | {r['ece']:.3f} |")
    print("AUC drop: " + ", ".join(f"{k} {v:+.3f}" for k, v in report["auc_drop"].items()))
    print("AUC by system (its fakes vs all dev reals): " + json.dumps(report["auc_by_unseen_system"]))
    print("AUC by kind: " + json.dumps(report["auc_by_kind"]))
    print(f"samples/ (40 clips): {report['samples']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
