"""Retrain the CLIP detector's head on labelled media, warm-started from a checkpoint: ``python -m ml.training.retrain``.

The portal's loop (moderators' reviewed items plus base training data -> a candidate model):

    items (path, label, kind, group, source)
      -> face crops + CLIP features, as the inference path makes them (``clip_features.face_crops`` and
         ``EncoderRunner``), one cache entry per item in ``work_dir/features`` named by the file's sha256,
         the frame count and the encoder version: a second call, or one after an interruption, skips
         finished items (no face / broken file: remembered too, and listed in the card as skipped)
      -> groups dealt into train / validation (deterministic by seed; validation gets both classes
         when there are two groups of each)
      -> the warm start's head trained further (``clip_train.train(warm=...)``: same recipe, layer and
         parts; frame head by L-BFGS from and towards the warm weights; LSTM fine-tuned a few epochs)
      -> clip rule, calibration and threshold on validation (``clip_finish.finish``; the warm start's
         where validation cannot choose them) -> a checkpoint in the usual format, its card saying
         what it saw.

Bounded by ``minutes``: feature extraction stops when its share of the budget is used (the rest is
kept for training); the model is trained on what is there if the training split has both classes,
else ``RetrainError`` says so and a rerun resumes.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import time
import uuid
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ml.items import Item, RetrainError, read_items
from ml.metrics import gate_metrics

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]
LSTM_EPOCHS = 5          # fine-tuning epochs for the warm start's LSTM
VAL_FRACTION = 0.2       # share of items dealt (by whole groups) into validation
TRAIN_SHARE = 0.2        # share of the budget kept back from extraction for training ...
TRAIN_RESERVE_MAX = 120  # ... but never more than this many seconds


# ------------------------------------------------------------------------------------ features
class FeatureStore:
    """Per-item CLIP features in ``work_dir/features``: ``<key>.npz`` (summary, embed, frames) or
    ``<key>.json`` (why there are none). ``clip_features``' own cache is read too (same keys), so base
    items cached there are not extracted again. The encoder is built only when something is missing."""

    def __init__(self, work_dir: Path, frames: int):
        from ml.training.clip_features import cache_root, encoder_version

        self.dir = Path(work_dir) / "features"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.read_dirs = [self.dir, cache_root() / "items"]
        self.frames, self.version = frames, encoder_version()
        self.runner = self.finder = None
        self.extracted = self.cached = 0

    def key(self, sha: str) -> str:
        from ml.training.clip_features import entry_key

        return entry_key(sha, self.frames, "clean", self.version)

    def cached_result(self, key: str) -> dict | str | None:
        """The features, the reason there are none, or None when the item was never done."""
        for folder in self.read_dirs:
            path = folder / f"{key}.npz"
            if path.exists():
                with np.load(path) as z:
                    return {k: z[k] for k in ("summary", "embed", "frames")}
        marker = self.dir / f"{key}.json"
        return json.loads(marker.read_text())["reason"] if marker.exists() else None

    def extract(self, item: Item, key: str) -> dict | str:
        from ml.errors import MediaError
        from ml.training.clip_features import EncoderRunner, face_crops

        if self.runner is None:
            import cv2

            from ml.media.faces import FaceFinder

            cv2.setNumThreads(1)
            self.runner = EncoderRunner(int(os.environ.get("DETECTOR_THREADS") or 0) or min(2, os.cpu_count() or 1))
            self.finder = FaceFinder()
        self.extracted += 1
        try:
            crops, index = face_crops(item.path, item.kind, self.frames, self.finder)
            reason = None if len(crops) else "no face found"
        except MediaError as exc:
            reason = exc.message
        except Exception as exc:  # a decoder crash on a broken file: recorded, never fatal
            reason = f"could not be read ({type(exc).__name__}: {exc})"[:300]
        if reason:
            (self.dir / f"{key}.json").write_text(json.dumps({"reason": reason}))
            return reason
        feats = self.runner(crops)
        feats.pop("tokens")
        out = self.dir / f"{key}.npz"
        np.savez(str(out) + ".part.npz", frames=index, **feats)
        os.replace(str(out) + ".part.npz", out)
        return {"summary": feats["summary"], "embed": feats["embed"], "frames": index}


def gather(items: list[Item], store: FeatureStore, deadline: float, progress: Progress) -> tuple[dict, list, list]:
    """(index -> {"sha256", "features"}, skipped [{source, reason}], pending [sources not reached in time])."""
    from ml.paths import sha256_file

    done, skipped, pending = {}, [], []
    for n, item in enumerate(items):
        progress("features", n / len(items))
        try:
            sha = sha256_file(item.path)
        except OSError as exc:
            skipped.append({"source": item.source, "reason": f"file not readable ({exc.strerror or exc})"})
            continue
        key = store.key(sha)
        result = store.cached_result(key)
        if result is not None:
            store.cached += 1
        elif time.time() > deadline:
            pending.append(item.source)
            continue
        else:
            result = store.extract(item, key)
        if isinstance(result, str):
            skipped.append({"source": item.source, "reason": result})
        else:
            done[n] = {"sha256": sha, "features": result}
    progress("features", 1.0)
    return done, skipped, pending


# --------------------------------------------------------------------------------------- splits
def split_groups(items: list[Item], seed: int = 0, val_fraction: float = VAL_FRACTION) -> dict[str, str]:
    """group -> "train" | "val". Groups in a hash order fixed by ``seed``; for each class with at least
    two groups, the first such group goes to validation, then more groups until validation holds
    ``val_fraction`` of the items, never leaving train without a class it had."""
    from ml.training.data import _unit_hash

    classes: dict[str, set[int]] = {}
    sizes: dict[str, int] = {}
    for it in items:
        classes.setdefault(it.group, set()).add(it.label)
        sizes[it.group] = sizes.get(it.group, 0) + 1
    order = sorted(classes, key=lambda g: (_unit_hash(g, seed), g))
    every = set().union(*classes.values()) if classes else set()
    val: list[str] = []

    def train_keeps_all(group: str) -> bool:
        rest = [classes[g] for g in order if g != group and g not in val]
        return (set().union(*rest) if rest else set()) >= every

    for label in (1, 0):
        holders = [g for g in order if label in classes[g]]
        if len(holders) >= 2 and not any(label in classes[g] for g in val):
            pick = next((g for g in holders if g not in val and train_keeps_all(g)), None)
            if pick:
                val.append(pick)
    target = val_fraction * len(items)
    for g in order:
        taken = sum(sizes[v] for v in val)
        if taken >= target:
            break
        if g not in val and taken + sizes[g] <= max(1.5 * target, 1) and train_keeps_all(g):
            val.append(g)
    return {g: "val" if g in val else "train" for g in order}


# ------------------------------------------------------------------------------------- training
def warm_recipe(card: dict, seed: int):
    """The warm start's recipe (its card's config), with a few LSTM epochs for fine-tuning."""
    from ml.training.clip_train import Recipe

    config = card.get("config") or {}
    known = {f.name for f in fields(Recipe)}
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items() if k in known}
    recipe = replace(Recipe(**args), lstm_epochs=LSTM_EPOCHS, seed=seed)
    if recipe.feature != "summary" or recipe.encoder != "fp32" or recipe.max_frames or "layer" not in config:
        raise RetrainError(f"the warm start {card.get('version')} is not a CLIP-feature head on the fp32 encoder "
                           "(its card's config says otherwise); retraining needs one")
    return recipe


def load_warm(path: Path):
    from ml.models.clip_detector import ClipLSTM
    from ml.models.checkpoint import load_checkpoint

    try:
        model, card = load_checkpoint(path, encoder=False)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise RetrainError(f"cannot load the warm start {path}: {exc}") from exc
    if not isinstance(model, ClipLSTM):
        raise RetrainError(f"the warm start {path} is not the CLIP detector ({type(model).__name__})")
    pre = card.get("preprocessing") or {}
    from ml.training.clip_features import MARGIN, SIZE

    if int(pre.get("input_size", 0)) != SIZE or float(pre.get("margin", 0)) != MARGIN:
        raise RetrainError(f"the warm start {path} crops faces at {pre.get('input_size')} px, margin {pre.get('margin')}; "
                           f"the feature cache makes {SIZE} px, margin {MARGIN}")
    return model, card


def counts_by_split(trained: list[dict]) -> dict:
    out: dict = {}
    for t in trained:
        cell = out.setdefault(t["split"], {"real": 0, "fake": 0})
        cell["fake" if t["label"] else "real"] += 1
    return out


def validation_summary(scored: list[dict], rule: str, cal: dict, threshold: float) -> dict | None:
    """All validation items together (calibrated scores), in the gate's terms; None without both classes."""
    from ml.calibration import apply_by_kind
    from ml.training.clip_finish import raw_score

    val = [s for s in scored if s["split"] == "val"]
    labels = [int(s["label"] == "fake") for s in val]
    if len(set(labels)) < 2:
        return None
    scores = apply_by_kind(cal, [raw_score(s, rule) for s in val], [s["kind"] for s in val])
    return gate_metrics(labels, [float(v) for v in scores], threshold)


def json_safe(value):
    """The card as strict JSON: NaN / infinity (an AUC validation cannot compute) become None, numpy
    scalars plain numbers (the portal stores the card in a JSON column)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def retrain(items: list[Item], *, warm_start: Path, out: Path, work_dir: Path, minutes: float,
            progress: Progress | None = None, seed: int = 0) -> dict:
    """Train a candidate from ``warm_start`` on ``items`` within ``minutes``; write it to ``out``;
    return its card."""
    from ml.training import clip_finish, clip_train

    started = time.time()
    report = progress or (lambda stage, fraction: None)
    if not items:
        raise RetrainError("no items to train on")
    if not minutes or minutes <= 0:
        raise RetrainError(f"the time budget must be positive (got {minutes} minutes)")
    warm_start, out, work_dir = Path(warm_start), Path(out), Path(work_dir)
    model, warm_card = load_warm(warm_start)
    recipe = warm_recipe(warm_card, seed)
    frames = int(warm_card["preprocessing"].get("frames", 8))

    budget = minutes * 60
    store = FeatureStore(work_dir, frames)
    done, skipped, pending = gather(items, store, started + budget - min(TRAIN_SHARE * budget, TRAIN_RESERVE_MAX), report)
    usable = [items[i] for i in sorted(done)]
    splits = split_groups(usable, seed)
    trained = [{"source": items[i].source, "sha256": done[i]["sha256"], "label": items[i].label, "kind": items[i].kind,
                "split": splits[items[i].group]} for i in sorted(done)]
    in_train = {t["label"] for t in trained if t["split"] == "train"}
    if in_train != {0, 1}:
        have = counts_by_split(trained).get("train", {"real": 0, "fake": 0})
        raise RetrainError(
            f"cannot train: the training split has {have['real']} real and {have['fake']} fake items with features "
            f"(both classes are needed); {len(skipped)} item(s) were skipped (no face or unreadable) and "
            f"{len(pending)} not reached within {minutes:g} minutes. Add items of the missing class, or run again "
            f"with more minutes: finished items are cached in {work_dir}.")

    rows = [{"root": "retrain", "path": items[i].source, "label": "fake" if items[i].label else "real",
             "kind": items[i].kind, "method": items[i].source.split(":", 1)[0], "group": items[i].group,
             "split": splits[items[i].group], "condition": "clean", **done[i]["features"]} for i in sorted(done)]
    report("training", 0.0)
    model, fit = clip_train.train(recipe, rows, log=log.info, warm=model)
    report("training", 1.0)
    report("calibration", 0.0)
    rule, rule_aucs, cal, threshold, metrics = clip_finish.finish(fit["scored"], fallback=warm_card)
    overall = validation_summary(fit["scored"], rule, cal, threshold)
    if overall:
        metrics["val_all"] = overall
    report("calibration", 1.0)

    report("saving", 0.0)
    card = clip_finish.detector_card(recipe, rule=rule, rule_aucs=rule_aucs, calibration=cal, threshold=threshold,
                                    report=metrics, fit=fit, rows=rows, frames=frames)
    sources = [t["source"] for t in trained]
    card.update({
        "version": f"retrain-{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}",
        "parent_version": warm_card["version"],
        "training_data": (f"retrained from {warm_card['version']} on {len(trained)} items "
                          f"({sum(s.startswith('review:') for s in sources)} reviewed by moderators, "
                          f"{sum(s.startswith('base:') for s in sources)} from the base data); split by group, "
                          "validation = held-out groups"),
        "trained_on": {"items": trained, "counts": counts_by_split(trained),
                       "reviewed": sum(s.startswith("review:") for s in sources),
                       "base": sum(s.startswith("base:") for s in sources)},
        "skipped": skipped,
        "pending": pending,
        "features": {"extracted": store.extracted, "cached": store.cached},
        "config": asdict(recipe) | {"retrain": {"warm_start": warm_card["version"], "lstm_epochs": LSTM_EPOCHS,
                                                "val_fraction": VAL_FRACTION, "seed": seed}},
        "minutes": round((time.time() - started) / 60, 3),
    })
    card = json_safe(card)
    tmp = out.with_name(out.name + ".part")
    clip_finish.save_detector(tmp, model, recipe, card)
    os.replace(tmp, out)
    report("saving", 1.0)
    import torch

    return torch.load(out, map_location="cpu", weights_only=True)["card"]  # as saved (with its date and commit)


# ------------------------------------------------------------------------------------------ CLI
def terminal_progress(stream=None) -> Progress:
    """A progress bar per stage (tqdm) on ``stream`` (standard error): ``features     [####....]  40.0%``."""
    from tqdm import tqdm

    state = {"stage": None, "bar": None}

    def show(stage: str, fraction: float) -> None:
        if state["stage"] != stage:
            if state["bar"] is not None:
                state["bar"].close()
            state["stage"] = stage
            state["bar"] = tqdm(total=1.0, desc=f"{stage:<12}", file=stream or sys.stderr, ascii=".#",
                                bar_format="{desc} [{bar:30}] {percentage:5.1f}%", mininterval=0)
        state["bar"].n = max(0.0, min(1.0, fraction))
        state["bar"].refresh()

    return show


def summary_lines(card: dict) -> list[str]:
    t = card["trained_on"]
    lines = [f"wrote {card['version']} (from {card['parent_version']}) in {card['minutes']:.2f} min",
             f"items: {len(t['items'])} trained on ({t['reviewed']} reviewed, {t['base']} base), "
             f"{len(card['skipped'])} skipped, {len(card['pending'])} not reached; "
             f"features extracted {card['features']['extracted']}, cached {card['features']['cached']}",
             "by split: " + json.dumps(t["counts"]),
             f"clip rule {card['clip_rule']}, threshold {card['threshold']}"]
    val = card["metrics"].get("val_all")
    if val:
        lines.append(f"validation: AUC {val['auc']} [{val['auc_ci'][0]}-{val['auc_ci'][1]}], accuracy {val['accuracy']}, "
                     f"F1 {val['f1']}, ECE {val['ece']} (n={val['n_scored']})")
    else:
        lines.append("validation: no figures (validation lacks one class)")
    lines += [f"skipped {s['source']}: {s['reason']}" for s in card["skipped"]]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.training.retrain", description=__doc__.splitlines()[0])
    parser.add_argument("--items", required=True, type=Path, help="CSV: path,label,kind,group,source")
    parser.add_argument("--warm-start", required=True, type=Path, help="the checkpoint to start from (the serving model)")
    parser.add_argument("--out", required=True, type=Path, help="where to write the candidate checkpoint")
    parser.add_argument("--work-dir", required=True, type=Path, help="feature cache (reused by later runs)")
    parser.add_argument("--minutes", required=True, type=float, help="time budget")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(int(os.environ.get("DETECTOR_THREADS") or 0) or min(2, os.cpu_count() or 1))
    try:
        card = retrain(read_items(args.items), warm_start=args.warm_start, out=args.out, work_dir=args.work_dir,
                       minutes=args.minutes, progress=terminal_progress(), seed=args.seed)
    except RetrainError as exc:
        print(f"\nretrain failed: {exc}", file=sys.stderr)
        return 2
    print(file=sys.stderr)
    print("\n".join(summary_lines(card)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
