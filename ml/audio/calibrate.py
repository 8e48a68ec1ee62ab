"""Validation scoring during training, and the end of a run: calibration, threshold, card, checkpoint, ONNX.

The validation clips (held-out speaker groups of train) are scored clean, through their cached codec copy
and through the telephone band, with the predictor's own preparation (voice activity, normalisation over
speech, mean frame logit over speech). Platt scaling is fitted on the three pooled, classes weighted
equally, so the score stays calibrated on degraded uploads; the threshold is 0.5 on that scale.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from ml.audio import checkpoint, data, degrade
from ml.audio.metrics import at_threshold, fit_platt, sigmoid
from ml.metrics import ece, eer, roc_auc
from ml.audio.predictor import prepare

CONDITIONS = ("clean", "codec", "phone")
VAL_VERSION = "v1"  # bump when the preparation (VAD, features) changes


class ValidationSet:
    def __init__(self, clips: list[data.Clip], front_end: str):
        self.clips = clips
        self.labels = np.array([c.label for c in clips])
        key = hashlib.sha256(("|".join(c.clip_id for c in clips) + front_end + VAL_VERSION).encode()).hexdigest()[:16]
        cached = data.cache_root() / f"validation-{front_end}-{key}.pkl"
        if cached.exists():  # the same clips prepared the same way: every run of a seed shares them
            with open(cached, "rb") as fh:
                self.items = pickle.load(fh)
            return
        self.items: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._prepare(front_end)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(self.items, fh)
        os.replace(tmp, cached)

    def _prepare(self, front_end: str) -> None:
        for cond in CONDITIONS:
            rows = []
            for clip in self.clips:
                wave = data.load(clip, "codec" if cond == "codec" else "clean")
                if cond == "phone":
                    wave = degrade.phone_band(wave)
                activity, feats = prepare(wave, front_end)
                voiced = activity.voiced if activity.voiced.any() else np.ones_like(activity.voiced)
                rows.append((feats.astype(np.float32), voiced))
            self.items[cond] = rows

    @torch.no_grad()
    def logits(self, model: torch.nn.Module, cond: str) -> np.ndarray:
        from ml.audio.network import TIME_STRIDE

        out = []
        for feats, voiced in self.items[cond]:
            steps = model(torch.from_numpy(feats)[None, None])[0].numpy()
            frame = np.repeat(steps, TIME_STRIDE)
            frame = np.pad(frame, (0, max(0, len(voiced) - len(frame))), mode="edge")[: len(voiced)]
            out.append(float(frame[voiced].mean()))
        return np.array(out)

    def score(self, model: torch.nn.Module) -> dict:
        aucs = {f"val_auc_{c}": round(roc_auc(self.labels, self.logits(model, c)), 4) for c in CONDITIONS}
        return {**aucs, "select": round(float(np.mean(list(aucs.values()))), 4)}


def finish(model, spec: dict, cfg: dict, val: ValidationSet, history: list, out: Path) -> Path:
    logits = {c: val.logits(model, c) for c in CONDITIONS}
    pooled = np.concatenate([logits[c] for c in CONDITIONS])
    labels = np.concatenate([val.labels] * len(CONDITIONS))
    a, b = fit_platt(pooled, labels)
    card = checkpoint.base_card(cfg["front_end"], f"voice-{cfg['front_end']}-{out.name}")
    card["calibration"] = {"method": "platt, classes weighted equally, on validation clean+codec+phone",
                           "a": a, "b": b}
    card["threshold"] = 0.5
    val_metrics = {}
    for c in CONDITIONS:
        probs = sigmoid(a * logits[c] + b)
        val_metrics[c] = {"auc": roc_auc(val.labels, logits[c]), "eer": eer(val.labels, logits[c]),
                          "ece": ece(val.labels, probs, balanced=True), **at_threshold(val.labels, probs, 0.5)}
    card["metrics"] = {"validation": val_metrics}
    train_clips = [c for c in data.read_manifest("train") if c not in set(val.clips)]
    card["training"] = {
        "data": "speech pool train split (shared/data/audio, build.py defaults)",
        "train_clips": {"real": sum(c.label == 0 for c in train_clips), "fake": sum(c.label == 1 for c in train_clips)},
        "validation_clips": {"real": int((val.labels == 0).sum()), "fake": int((val.labels == 1).sum())},
        "split": "by speaker group (seeded hash, ~20% of groups)", "config": cfg,
        "steps": history[-1]["step"] if history else 0, "history": history,
    }
    card["model"] = spec
    checkpoint.save(out / "voice.pt", model, spec, card)
    checkpoint.export(model, card, out / "voice.onnx")
    (out / "card.json").write_text(json.dumps(card, indent=2))
    print(json.dumps({"validation": val_metrics, "calibration": card["calibration"]}, indent=1))
    return out / "voice.pt"
