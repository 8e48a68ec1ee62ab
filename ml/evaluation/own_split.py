"""The own test split: held-out identities of ``data/train`` with the project's pseudo-fakes, scored on the
crops of ``ml.training.prepare``'s cache (the CNN-LSTM baseline's data): frame-level and clip-level figures,
per method, and a robustness table on clips (each condition applied to the crop sequence)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ml.inference.sequence import resize_all, score_sequence, shipped
from ml.media import degradations
from ml.metrics import auc_by_group, binary_metrics, roc_auc, rounded
from ml.training import data as D


def evaluate_own(model, card: dict, *, cache: Path | None, n_frames: int, n_clips: int, n_robust: int,
                 robustness: bool, seed: int = 7, log=print) -> dict:
    size = card["preprocessing"]["input_size"]
    cfg = card.get("config", {})
    bank = D.CropBank.load(cache, "test", seed=cfg.get("seed", 0), fractions=tuple(cfg.get("split_fractions", (0.7, 0.15, 0.15))))
    out: dict = {"data": bank.summary()}
    threshold = card["threshold"]
    rocs = {}
    for label, degrade in (("clean", 0.0), ("train_degradations", 1.0)):
        x, y, methods = D.fixed_frames(bank, n_frames, size, seed=seed, degrade=degrade)
        s = np.concatenate([score_sequence(model, x[i:i + 64])["frames"] for i in range(0, len(x), 64)])
        out[f"frames_{label}"] = binary_metrics(y, s, threshold) | {"by_method": auc_by_group(y, s, methods)}
        rocs[f"own test frames ({label})"] = (y, s)
        log(f"own test frames {label}: AUC {out[f'frames_{label}']['roc_auc']}")
    rng = np.random.default_rng(seed + 1)
    ys, lstm, mean, kinds, methods, ship = [], [], [], [], [], []
    for i in range(n_clips):
        kind = "image" if rng.random() < 0.3 else "video"
        crops, method = D.make_sequence(bank, rng, size, fake=i % 2 == 1, kind=kind, degrade=1.0)
        r = score_sequence(model, crops)
        ys.append(i % 2)
        ship.append(shipped(card, r, kind))
        lstm.append(r["lstm"])
        mean.append(r["mean"])
        kinds.append(kind)
        methods.append(method)
    ys, lstm, mean, kinds, ship = map(np.array, (ys, lstm, mean, kinds, ship))
    out["clips"] = {}
    for kind in ("video", "image", "all"):
        sel = kinds == kind if kind != "all" else np.ones(len(ys), bool)
        out["clips"][kind] = {"shipped": binary_metrics(ys[sel], ship[sel], threshold),
                              "lstm": binary_metrics(ys[sel], lstm[sel], threshold),
                              "mean": binary_metrics(ys[sel], mean[sel], threshold)}
    out["clips"]["by_method_shipped"] = auc_by_group(ys, ship, methods)
    rocs["own test video clips (shipped rule)"] = (ys[kinds == "video"], ship[kinds == "video"])
    log(f"own test clips: video AUC lstm {out['clips']['video']['lstm']['roc_auc']} mean {out['clips']['video']['mean']['roc_auc']}")
    if robustness:
        out["robustness"] = own_robustness(model, card, bank, size, threshold, n_robust, seed + 2, log)
    return out, rocs


def own_robustness(model, card: dict, bank, size: int, threshold: float, n: int, seed: int, log=print) -> dict:
    """Video clips (raw crops at the cache size, no training degradations), each condition applied to
    the crop sequence, then resized to the model input."""
    rng = np.random.default_rng(seed)
    raw = []
    for i in range(n):
        crops, method = D.make_sequence(bank, rng, bank.items[0].crops.shape[1], fake=i % 2 == 1, kind="video",
                                        degrade=0.0, clean_raw=True)
        raw.append((crops, i % 2, method))
    table = {}
    for condition in degradations.ROBUSTNESS:
        y, lstm, mean, frames_y, frames_s, ship = [], [], [], [], [], []
        for crops, label, _ in raw:
            seq = resize_all(degradations.perturb_frames(crops, condition, seed=seed), size)
            r = score_sequence(model, seq)
            y.append(label)
            ship.append(shipped(card, r, "video"))
            lstm.append(r["lstm"])
            mean.append(r["mean"])
            frames_y += [label] * len(seq)
            frames_s += list(r["frames"])
        table[condition] = {"clip_auc_shipped": rounded(roc_auc(y, ship)), "clip_auc_lstm": rounded(roc_auc(y, lstm)),
                            "clip_auc_mean": rounded(roc_auc(y, mean)), "frame_auc": rounded(roc_auc(frames_y, frames_s)),
                            "clip_accuracy_shipped": rounded(np.mean((np.array(ship) >= threshold) == np.array(y)))}
        log(f"own robustness {condition}: {table[condition]}")
    add_drops(table)
    return table


def add_drops(table: dict) -> None:
    """Each AUC's drop from the clean condition, beside it (``drop_<key>``)."""
    clean = table.get("clean", {})
    for cond, row in table.items():
        for key in [k for k in row if k.endswith(("auc_lstm", "auc_mean", "frame_auc", "_auc", "auc_shipped"))]:
            if clean.get(key) is not None and row.get(key) is not None:
                row[f"drop_{key}"] = round(clean[key] - row[key], 4)
