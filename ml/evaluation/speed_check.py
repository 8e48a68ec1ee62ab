"""Does the speed path keep the detector's accuracy? ``python -m ml.evaluation.speed_check``

Scores dev videos, dev talking heads, dev images (``$DEEPFAKE_DATA/dev``) and dev-wild (``--wild``) through
each path and prints their ROC AUCs with bootstrap 95% intervals side by side, with the change from the
reference. A path is (decode, frames, precision):

- ``fp32``: the model as it served before the speed work: every frame decoded, the card's frame count,
  the fp32 ONNX graph (the reference);
- ``fast``: keyframe-aware seeking with non-reference frames skipped (``ml.media.seek``), fp32 graph;
- ``fast-bf16``: the same crops through the bf16 encoder (``ml.inference.fast_scorer``); on a CPU without
  bf16 the bf16 rounding is emulated in fp32 kernels (same numbers, fp32 speed; the table says which);
- ``fast-fN``: ``fast`` with N frames a clip instead of the card's (``--frames 2,3``);
- ``exact-bf16``: the reference's crops (every frame decoded) through the bf16 encoder.

A clip's score is made exactly as ``Predictor`` makes it (calibrated clip rule per face track, the most
suspicious track); an item without a face scores 0.5 in every path, so all paths rank the same items.
One thread. Crops and scores are cached under ``--cache`` (default /work/data/speed), so a stopped run
resumes. ``--limit N`` scores the first N items of each set, ``--minutes M`` stops after M minutes with
every set's items done so far (both a stated subset: the table gives each set's n).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

TOLERANCE = 0.01  # a path that moves any set's AUC by more than this is not made the default
SETS = ("dev_video", "dev_th", "dev_image", "wild")


def items(dev: Path, wild: Path | None, limit: int | None) -> list[dict]:
    from ml.training.prepare import read_labels

    out = []
    for r in read_labels(dev):
        name = "dev_image" if r["kind"] == "image" else (
            "dev_th" if r["source"] == "pool-talking-heads" else "dev_video")
        out.append({"set": name, "path": str(dev / r["path"]), "label": int(r["label"] == "fake"), "kind": r["kind"]})
    if wild is not None and (wild / "labels.csv").exists():
        out += [{"set": "wild", "path": str(wild / r["path"]), "label": int(r["label"] == "fake"), "kind": r["kind"]}
                for r in read_labels(wild) if r["kind"] == "video"]
    if limit:
        out = [i for s in SETS for i in [i for i in out if i["set"] == s][:limit]]
    return out


def parse_path(name: str, card_frames: int) -> dict:
    decode = "exact" if name.startswith(("fp32", "exact")) else "fast"
    frames = int(name.rsplit("-f", 1)[1]) if "-f" in name else card_frames
    return {"name": name, "decode": decode, "frames": frames, "precision": "bf16" if "bf16" in name else "fp32"}


class Crops:
    """Face crops per track of one item for one (decode, frames), made as the Predictor makes them; cached."""

    def __init__(self, root: Path, size: int, margin: float):
        from ml.media.faces import FaceFinder

        self.root, self.size, self.margin = root / "crops", size, margin
        self.finder = FaceFinder()

    def get(self, item: dict, decode: str, frames: int) -> list[np.ndarray]:
        from ml.media.decode import probe, sample_frames
        from ml.media.faces import crop_face

        mode = "image" if item["kind"] == "image" else f"{decode}-f{frames}"
        out = self.root / mode / (hashlib.sha1(item["path"].encode()).hexdigest()[:20] + ".npz")
        if out.exists():
            with np.load(out) as z:
                return [z[k] for k in sorted(z.files, key=lambda k: int(k[1:]))]
        os.environ["DETECTOR_DECODE"] = decode
        try:
            sampled = sample_frames(item["path"], frames, probe(item["path"]))
            tracks = [t for t in self.finder.track([f.image for f in sampled]) if t.faces]
            crops = [np.stack([crop_face(sampled[p].image, t.faces[p].landmarks, self.size, self.margin)[0]
                               for p in sorted(t.faces)]) for t in tracks]
        except Exception as exc:  # noqa: BLE001 - recorded as no crops, like a failed prediction
            print(f"  {item['path']}: {type(exc).__name__}: {exc}", file=sys.stderr)
            crops = []
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez(str(out) + ".tmp.npz", **{f"t{i}": c for i, c in enumerate(crops)})
        os.replace(str(out) + ".tmp.npz", out)
        return crops


def item_score(predictor, scorer, kind: str, tracks: list[np.ndarray]) -> float:
    """The Predictor's clip score from per-track crops (0.5 without a face)."""
    from ml import calibration
    from ml.clip_rules import track_score
    from ml.inference.predictor import _sigmoid

    best = None
    for crops in tracks:
        frame_logits, clip_logit = scorer(crops, {})
        probs = _sigmoid(frame_logits)
        raw = track_score(predictor.clip_rule, kind, probs, float(_sigmoid(clip_logit)))
        score = float(calibration.calibrate(predictor.card, [raw], kind)[0])
        best = score if best is None else max(best, score)
    return 0.5 if best is None else best


def make_scorer(precision: str, checkpoint: Path, light: bool = False):
    """(scorer, description) for one thread: the fp32 ONNX graph, or the bf16 encoder (emulated where
    the CPU has no bf16). ``light``: the description only (nothing is scored)."""
    from ml.inference import cpu_features

    if light:
        return None, "fp32 (ONNX Runtime)" if precision == "fp32" else (
            "bf16 (oneDNN)" if cpu_features.has_bf16() else "bf16 (emulated in fp32 kernels)")

    if precision == "fp32":
        from ml.inference.backends import OnnxScorer, fresh_onnx_beside
        from ml.inference.export_onnx import export_checkpoint

        onnx_path = fresh_onnx_beside(checkpoint) or export_checkpoint(checkpoint)
        return OnnxScorer(onnx_path, 1), "fp32 (ONNX Runtime)"
    from ml.inference.fast_scorer import Bf16Scorer
    from ml.models.checkpoint import load_checkpoint

    model, _ = load_checkpoint(checkpoint)
    native = cpu_features.has_bf16()
    return Bf16Scorer(model, 1, emulate=not native), "bf16 (oneDNN)" if native else "bf16 (emulated in fp32 kernels)"


def auc_row(y: np.ndarray, s: np.ndarray) -> tuple[float, float, float]:
    from ml.metrics import bootstrap_auc, roc_auc

    if len(set(y.tolist())) < 2:
        return float("nan"), float("nan"), float("nan")
    lo, hi = bootstrap_auc(y, s)
    return float(roc_auc(y, s)), lo, hi


def interleave(todo: list[dict]) -> list[dict]:
    """Items in an order where every set, and each label within it, advances at its own pace, shuffled by a
    fixed hash: a stopped run leaves a fair subset of each set (both labels)."""
    rank = {}
    for s in SETS:
        for label in (0, 1):
            sel = sorted((i for i in todo if i["set"] == s and i["label"] == label),
                         key=lambda i: hashlib.sha1(i["path"].encode()).hexdigest())
            rank.update({i["path"]: (n + 0.5) / len(sel) for n, i in enumerate(sel)})
    return sorted(todo, key=lambda i: (rank[i["path"]], i["path"]))


def run(paths: list[str], args) -> dict:
    """Every item through every path (item by item, so a stopped run leaves every path the same items)."""
    import torch

    from ml.inference.backends import read_card
    from ml.inference.predictor import Predictor

    torch.set_num_threads(1)
    card = read_card(args.checkpoint)
    pre = card["preprocessing"]
    todo = interleave(items(args.dev, args.wild, args.limit))
    crops = Crops(args.cache, int(pre["input_size"]), float(pre["margin"]))
    specs = [parse_path(name, int(pre.get("frames", 6))) for name in paths]
    scorers = {}
    for precision in dict.fromkeys(s["precision"] for s in specs):
        scorer, described = make_scorer(precision, args.checkpoint, light=args.report)
        scorers[precision] = (Predictor(scorer, card, backend=precision), scorer, described)
    score_file = args.cache / "scores" / f"{card['version']}.jsonl"
    score_file.parent.mkdir(parents=True, exist_ok=True)
    memo = {}  # (precision, crops mode, path) -> score; an image's crop is the same in every decode
    if score_file.exists():
        memo = {tuple(r["key"]): r["score"] for r in map(json.loads, score_file.read_text().splitlines())}
    started, scored = time.time(), []
    with open(score_file, "a") as fh:
        for n, item in enumerate(todo, 1):
            if args.minutes and time.time() - started > 60 * args.minutes:
                print(f"stopped after {args.minutes} minutes: {len(scored)} of {len(todo)} items scored", flush=True)
                break
            keys = [(s["precision"], "image" if item["kind"] == "image" else f"{s['decode']}-f{s['frames']}", item["path"])
                    for s in specs]
            if args.report and not all(k in memo for k in keys):
                continue  # --report: only what the cache holds for every path
            for spec, key in zip(specs, keys):
                if key not in memo:
                    predictor, scorer, _ = scorers[spec["precision"]]
                    tracks = crops.get(item, spec["decode"], spec["frames"])
                    memo[key] = round(item_score(predictor, scorer, item["kind"], tracks), 6)
                    fh.write(json.dumps({"key": list(key), "score": memo[key]}) + "\n")
                    fh.flush()
            scored.append(item)
            if n % 25 == 0 and not args.report:
                print(f"  {n}/{len(todo)} items, {time.time() - started:.0f} s", flush=True)
    results = {}
    for spec in specs:
        described = scorers[spec["precision"]][2]
        results[spec["name"]] = {"described": described, "spec": spec, "sets": {}}
        for s in SETS:
            sel = [i for i in scored if i["set"] == s]
            if sel:
                y = np.array([i["label"] for i in sel])
                mode = lambda i: "image" if i["kind"] == "image" else f"{spec['decode']}-f{spec['frames']}"  # noqa: E731
                scores = np.array([memo[(spec["precision"], mode(i), i["path"])] for i in sel])
                results[spec["name"]]["sets"][s] = (len(sel), *auc_row(y, scores))
                results[spec["name"]].setdefault("scores", []).extend(scores.tolist())
    return results


def table(results: dict, reference: str = "fp32") -> str:
    ref = results[reference]["sets"]
    lines = ["| path | " + " | ".join(f"{s} (n {ref[s][0]})" for s in ref) + " | max drop | mean, max abs score change "
             "| default? |", "|---|" + "---|" * (len(ref) + 3)]
    ref_scores = np.array(results[reference]["scores"])
    for name, r in results.items():
        cells, drops = [], []
        for s in ref:
            n, auc, lo, hi = r["sets"][s]
            delta = auc - ref[s][1]
            drops.append(-delta)
            cells.append(f"{auc:.3f} [{lo:.2f}-{hi:.2f}]" + ("" if name == reference else f" ({delta:+.3f})"))
        worst = max(drops)
        verdict = "reference" if name == reference else (
            "n/a (a set lacks a class)" if np.isnan(worst) else "may be" if worst <= TOLERANCE else "no")
        change = np.abs(np.array(r["scores"]) - ref_scores)
        lines.append(f"| {name}: {r['described']}, {r['spec']['decode']} decode, {r['spec']['frames']} frames | "
                     + " | ".join(cells) + f" | {worst:+.3f} | {change.mean():.3f}, {change.max():.3f} | {verdict} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    from ml.paths import DEFAULT_CHECKPOINT
    from ml.training.prepare import data_root

    parser = argparse.ArgumentParser(prog="python -m ml.evaluation.speed_check", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=Path(DEFAULT_CHECKPOINT))
    parser.add_argument("--paths", default="fp32,fast,fast-bf16", help="comma-separated; first is the reference")
    parser.add_argument("--frames", default="", help="also fast paths with these frame counts, e.g. 2,3")
    parser.add_argument("--dev", type=Path, default=None, help="default: $DEEPFAKE_DATA/dev")
    parser.add_argument("--wild", type=Path, default=Path("/work/data/dev-wild"))
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("SPEED_CHECK_CACHE", "/work/data/speed")))
    parser.add_argument("--limit", type=int, default=None, help="first N items of each set (a stated subset)")
    parser.add_argument("--minutes", type=float, default=None, help="stop after this long (items done so far)")
    parser.add_argument("--report", action="store_true", help="score nothing: the table of the items cached for every path")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    args.dev = args.dev or data_root() / "dev"
    paths = args.paths.split(",") + [f"fast-f{n}" for n in args.frames.split(",") if n]
    results = run(paths, args)
    print(table(results, paths[0]))
    if args.json:
        args.json.write_text(json.dumps({k: {**v, "scores": None} for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
