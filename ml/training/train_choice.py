"""The CNN-LSTM's clip rule, calibration and threshold, chosen on its validation clips (never on dev), and
``finalize``: the same choice made again for a saved checkpoint and stored in its card."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ml import calibration
from ml.clip_rules import CLIP_RULES
from ml.metrics import binary_metrics, ece, log_loss, roc_auc
from ml.models.checkpoint import save_checkpoint
from ml.training import data as D
from ml.training.train_stages import build_clips, score_clips


def choose_clip_rule(y: np.ndarray, lstm: np.ndarray, mean: np.ndarray, kinds: np.ndarray,
                     topk: np.ndarray | None = None) -> dict:
    """Pick the video clip rule by validation video AUC (ties: the first listed); calibrate the scores
    inference will produce (videos by that rule, images by their frame probability) on the same
    validation clips; then pick the threshold on the calibrated scores."""
    rules = {"lstm": lstm, "mean_frames": mean, "mean_lstm_frames": (lstm + mean) / 2}
    if topk is not None:
        rules["topk_frames"] = topk
    video = kinds == "video"
    names = [r for r in CLIP_RULES if r in rules]  # ties: the first in ml.clip_rules' order
    aucs = {r: round(roc_auc(y[video], rules[r][video]), 4) for r in names}
    best = max(names, key=lambda r: (np.nan_to_num(aucs[r], nan=-1), -names.index(r)))
    raw = np.where(video, rules[best], mean)
    cal = calibration.fit_by_kind(y, raw, kinds)
    shipped = calibration.apply_by_kind(cal, raw, kinds)
    threshold = pick_threshold(y, shipped)
    cal |= {"fitted_on": f"{len(y)} validation clips of the own split", "ece_before": round(ece(y, raw), 4),
            "ece_after": round(ece(y, shipped), 4), "log_loss_before": round(log_loss(y, raw), 4),
            "log_loss_after": round(log_loss(y, shipped), 4)}
    return {"clip_rule": best, "val_video_auc_by_rule": aucs, "threshold": threshold, "calibration": cal,
            "shipped_scores": shipped, "val_metrics_at_threshold": binary_metrics(y, shipped, threshold)}


def finalize(path: Path, *, cache: Path | None = None) -> dict:
    """Re-derive the clip rule and threshold of a saved checkpoint on its validation clips (the same
    seeded clips stage 2 validated on) and store them in its card."""
    from ml.models.checkpoint import load_checkpoint

    model, card = load_checkpoint(path)
    cfg = card["config"]
    torch.set_num_threads(cfg.get("threads", 2))
    bank = D.CropBank.load(cache, "val", seed=cfg["seed"], fractions=tuple(cfg["split_fractions"]))
    device = torch.device("cpu")
    val = build_clips(model, bank, cfg["stage2"]["val_clips"], cfg, device, cfg["seed"] + 2)
    y = np.array([c[1] for c in val])
    kinds = np.array([c[2].split(":")[0] for c in val])
    lstm, mean, topk = score_clips(model, val, device)
    choice = choose_clip_rule(y, lstm, mean, kinds, topk)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    card = dict(ckpt["card"])
    card.update(clip_rule=choice["clip_rule"], threshold=choice["threshold"], threshold_rule=THRESHOLD_RULE,
                clip_rule_choice=CLIP_RULE_NOTE, calibration=choice["calibration"],
                validation_scores=score_histogram(choice["shipped_scores"]))
    card.setdefault("metrics", {}).setdefault("validation", {}).update(
        val_video_auc_by_rule=choice["val_video_auc_by_rule"], clip_metrics_at_threshold=choice["val_metrics_at_threshold"])
    save_checkpoint(path, model, model_spec=ckpt["model"], card=card)
    return choice


THRESHOLD_RULE = ("best balanced accuracy on the validation clips of the own pseudo-fake split (videos scored by the "
                  "clip rule, images by their frame probability, calibrated, as ml.inference.predictor does); never tuned on dev")


def score_histogram(scores: np.ndarray) -> dict:
    """The validation clips' calibrated scores as inference reports them: the drift reference."""
    counts, bins = np.histogram(scores, bins=10, range=(0.0, 1.0))
    return {"bins": [round(b, 2) for b in bins.tolist()], "counts": counts.tolist()}


CLIP_RULE_NOTE = ("video clip rule chosen by validation video AUC among lstm, mean_frames, mean_lstm_frames and "
                  "topk_frames (mean of the top quarter of frame probabilities)")


def pick_threshold(y: np.ndarray, scores: np.ndarray) -> float:
    """The threshold with the best balanced accuracy on validation clips."""
    best_t, best_b = 0.5, -1.0
    for t in np.unique(np.r_[scores, 0.5]):
        pred = scores >= t
        tpr = pred[y == 1].mean() if (y == 1).any() else 0
        tnr = (~pred[y == 0]).mean() if (y == 0).any() else 0
        if (tpr + tnr) / 2 > best_b:
            best_t, best_b = float(t), (tpr + tnr) / 2
    return round(best_t, 4)
