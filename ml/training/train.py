"""Train the detector: ``python -m ml.train --config ml/configs/default.json [--quick] [--out PATH]``.

Stage 1 (most of the time budget): the CNN and its frame head on single crops, real vs pseudo-fake
(self-blended, face swaps, the labelled fake photos), degradations on both classes, AdamW with a
cosine schedule over the *time* budget, validation on a fixed pseudo-fake set of held-out identities,
early stopping on its ROC AUC. Stage 2: the CNN frozen, the LSTM and clip head trained on sequences of
crop features (real tracks, steady and flickering fakes, one-frame image clips). The checkpoint keeps
the best stage-1 weights, the trained clip head, and a model card; the threshold is picked on the
validation clips (never on dev).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ml.training import data as D
from ml.training.checkpoint import default_preprocessing, save_checkpoint
from ml.training import calibration
from ml.evaluation.evaluate import binary_metrics, ece, roc_auc
from ml.inference.predictor import topk_mean
from ml.models.registry import backbone_input, build_model, preprocess
from ml.training.prepare import REPO

DEFAULTS = {
    "seed": 0,
    "model": {"name": "cnn_lstm", "args": {"backbone": "resnet_narrow", "lstm_hidden": 128, "dropout": 0.2}},
    "input_size": 128,
    "split_fractions": [0.7, 0.15, 0.15],
    "batch_size": 32,
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "warmup_steps": 100,
    "max_minutes": 40.0,
    "stage2_minutes": 5.0,
    "val_every_minutes": 4.0,
    "val_size": 1200,
    "patience": 4,
    "degrade": 1.0,
    "degrade_ramp_samples": 0,
    "paired": False,
    "degrade_start": 0.3,
    "num_workers": 1,
    "threads": 2,
    "stage2": {"train_clips": 480, "val_clips": 160, "image_fraction": 0.3, "epochs": 30, "lr": 2e-3, "batch_size": 16},
    "version_prefix": "sbi-swap",
}
QUICK = {"max_minutes": 1.5, "stage2_minutes": 0.5, "val_every_minutes": 0.5, "val_size": 64, "batch_size": 16,
         "num_workers": 0, "stage2": {"train_clips": 24, "val_clips": 12, "image_fraction": 0.3, "epochs": 3,
                                      "lr": 2e-3, "batch_size": 8}}


def log(msg: str, fh=None) -> None:
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    if fh:
        fh.write(line + "\n")
        fh.flush()


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def embed_all(model, crops_uint8: np.ndarray, device, batch: int = 64) -> torch.Tensor:
    model.eval()
    out = []
    for i in range(0, len(crops_uint8), batch):
        x = preprocess(torch.from_numpy(crops_uint8[i:i + batch])).to(device)
        out.append(model.embed(x).cpu())
    return torch.cat(out) if out else torch.empty(0)


@torch.no_grad()
def frame_scores(model, crops_uint8: np.ndarray, device, batch: int = 64) -> np.ndarray:
    feats = embed_all(model, crops_uint8, device, batch)
    return torch.sigmoid(model.frame_logits(feats.to(device))).cpu().numpy()


# ---------------------------------------------------------------------------------------- stage 1
STATE = "state.pt"  # the run folder's resumable stage-1 state


def save_state(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a kill mid-write never leaves a torn state


class Interrupted(Exception):
    """Stage 1 stopped on request (``--stop-after-steps``) after saving its state."""


def train_frames(model, banks, cfg, device, logfh, budget_seconds: float, out_dir: Path, *, resume: dict | None = None,
                 stop_after: int | None = None):
    """Stage 1 within ``budget_seconds`` of training time (or ``cfg["max_steps"]`` steps, whose schedule is
    then by step). The state (weights, optimizer, step, samples, training seconds used, best weights,
    validation history, RNG) is saved in ``out_dir/state.pt`` at every validation, so ``resume`` (that
    state) continues the same data stream, schedule and budget. ``stop_after``: save and raise
    ``Interrupted`` after that many steps (how the tests interrupt a run at a known point)."""
    val_x, val_y, val_m = D.fixed_frames(banks["val"], cfg["val_size"], cfg["input_size"], seed=cfg["seed"] + 1,
                                         degrade=cfg["degrade"])
    log(f"validation set: {len(val_y)} crops, {dict(zip(*np.unique(val_m, return_counts=True)))}", logfh)
    per_draw = 2 if cfg.get("paired", False) else 1
    ramp = None
    if cfg.get("degrade_ramp_samples", 0) > 0:
        ramp = (cfg.get("degrade_start", 0.3), int(cfg["degrade_ramp_samples"]) // per_draw)
    params = [p for n, p in model.named_parameters() if not n.startswith(("lstm", "clip_head")) and p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    loss_fn = nn.BCEWithLogitsLoss()
    st = {"step": 0, "seen": 0, "used": 0.0, "bad": 0, "history": [], "since_val": 0.0,
          "best": {"auc": -1.0, "state": copy.deepcopy(model.state_dict()), "step": 0}}
    if resume:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        torch.set_rng_state(resume["torch_rng"])
        st = {k: resume[k] for k in st}
        log(f"resumed stage 1 at step {st['step']}, {st['seen']} samples, {st['used'] / 60:.1f} of "
            f"{budget_seconds / 60:.1f} min used", logfh)
    dataset = D.FrameDataset(banks["train"], cfg["input_size"], seed=cfg["seed"], degrade=cfg["degrade"], ramp=ramp,
                             paired=cfg.get("paired", False), start=st["seen"] // per_draw,
                             methods=cfg.get("fake_methods"))  # None: data.FAKE_METHODS
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg["batch_size"], num_workers=cfg["num_workers"],
                                         persistent_workers=cfg["num_workers"] > 0,
                                         prefetch_factor=4 if cfg["num_workers"] > 0 else None,
                                         # its own generator: making an iterator must not draw from the global
                                         # RNG, whose state (dropout) a resumed run restores
                                         generator=torch.Generator().manual_seed(cfg["seed"]))
    budget = max(budget_seconds, 1.0)
    max_steps = cfg.get("max_steps")
    val_every = cfg["val_every_minutes"] * 60
    run_loss, run_n, started = 0.0, 0, time.time()
    last = time.time()

    def checkpoint_state():
        save_state(out_dir / STATE, {**st, "model": model.state_dict(), "optimizer": opt.state_dict(),
                                     "torch_rng": torch.get_rng_state(), "stage1_done": False})

    model.train()
    stop = st["used"] >= budget or bool(max_steps and st["step"] >= max_steps)
    for x, y in ([] if stop else loader):
        now = time.time()
        st["used"] += now - last
        st["since_val"] += now - last
        last = now
        frac = min(1.0, st["step"] / max_steps if max_steps else st["used"] / budget)
        lr = cfg["lr"] * min(1.0, (st["step"] + 1) / cfg["warmup_steps"]) * 0.5 * (1 + math.cos(math.pi * frac))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = preprocess(x).to(device), y.to(device)
        logits = model.frame_logits(model.embed(x))
        loss = loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        st["step"] += 1
        st["seen"] += len(y)
        run_loss, run_n = run_loss + loss.item() * len(y), run_n + len(y)
        if st["step"] % 50 == 0:
            log(f"step {st['step']} seen {st['seen']} loss {run_loss / run_n:.4f} lr {lr:.2e} "
                f"{run_n / max(time.time() - started, 1e-6):.1f} img/s", logfh)
            run_loss, run_n, started = 0.0, 0, time.time()
        done = st["used"] + (time.time() - last) >= budget or bool(max_steps and st["step"] >= max_steps)
        if stop_after and st["step"] >= stop_after and not done:
            checkpoint_state()
            raise Interrupted(f"stopped after step {st['step']}")
        if st["since_val"] >= val_every or done:
            t0 = time.time()
            scores = frame_scores(model, val_x, device)
            auc = roc_auc(val_y, scores)
            fake_methods = sorted({m for m, yy in zip(val_m, val_y) if yy == 1})
            per = {m: round(roc_auc(np.r_[val_y[val_y == 0], np.ones(sum(1 for mm in val_m if mm == m))],
                                    np.r_[scores[val_y == 0], scores[np.array(val_m) == m]]), 4) for m in fake_methods}
            st["history"].append({"step": st["step"], "seen": st["seen"], "minutes": round(st["used"] / 60, 2),
                                  "val_auc": round(auc, 4), "val_auc_by_method": per})
            log(f"VAL step {st['step']} auc {auc:.4f} by method {per}", logfh)
            if auc > st["best"]["auc"]:
                st["best"] = {"auc": auc, "state": copy.deepcopy(model.state_dict()), "step": st["step"]}
                st["bad"] = 0
            else:
                st["bad"] += 1
            model.train()
            st["since_val"] = 0.0
            last += time.time() - t0  # validation time is not training time
            checkpoint_state()
            if st["bad"] >= cfg["patience"]:
                log(f"early stop: no improvement in {st['bad']} validations", logfh)
                break
        if done:
            break
    save_state(out_dir / STATE, {**st, "model": model.state_dict(), "optimizer": opt.state_dict(),
                                 "torch_rng": torch.get_rng_state(), "stage1_done": True})
    model.load_state_dict(st["best"]["state"])
    return {"steps": st["step"], "samples_seen": st["seen"], "minutes": round(st["used"] / 60, 2),
            "best_step": st["best"]["step"], "best_val_auc": round(st["best"]["auc"], 4), "history": st["history"]}


# ---------------------------------------------------------------------------------------- stage 2
def build_clips(model, bank, n: int, cfg, device, seed: int, deadline: float | None = None):
    """n clips (half fake): list of (features T x C, label, method, frame scores)."""
    rng = np.random.default_rng(seed)
    clips = []
    for i in range(n):
        if deadline and time.time() > deadline and len(clips) >= 8:
            break
        fake = i % 2 == 1
        kind = "image" if rng.random() < cfg["stage2"]["image_fraction"] else "video"
        crops, method = D.make_sequence(bank, rng, cfg["input_size"], fake=fake, kind=kind, degrade=cfg["degrade"])
        feats = embed_all(model, crops, device)
        clips.append((feats, int(fake), method))
    return clips


def clip_batches(clips, batch_size: int, rng):
    by_len: dict[int, list[int]] = {}
    for i, c in enumerate(clips):
        by_len.setdefault(len(c[0]), []).append(i)
    batches = []
    for ids in by_len.values():
        ids = list(rng.permutation(ids))
        batches += [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)]
    rng.shuffle(batches)
    return batches


@torch.no_grad()
def score_clips(model, clips, device):
    """(LSTM clip probability, mean frame probability, top-quarter mean) per clip."""
    model.eval()
    lstm, mean, topk = [], [], []
    for feats, _, _ in clips:
        f = feats.to(device)
        lstm.append(torch.sigmoid(model.clip_logits(f[None]))[0].item())
        frames = torch.sigmoid(model.frame_logits(f)).cpu().numpy()
        mean.append(float(frames.mean()))
        topk.append(topk_mean(frames))
    return np.array(lstm), np.array(mean), np.array(topk)


def train_clips(model, banks, cfg, device, logfh, deadline: float):
    s2 = cfg["stage2"]
    start = time.time()
    build_deadline = start + (deadline - start) * 0.75
    val = build_clips(model, banks["val"], s2["val_clips"], cfg, device, cfg["seed"] + 2,
                      start + (deadline - start) * 0.25)
    train = build_clips(model, banks["train"], s2["train_clips"], cfg, device, cfg["seed"] + 3, build_deadline)
    log(f"stage 2: {len(train)} train clips, {len(val)} val clips ({time.time() - start:.0f} s for features)", logfh)
    for p in model.parameters():
        p.requires_grad_(False)
    params = list(model.lstm.parameters()) + list(model.clip_head.parameters())
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=s2["lr"], weight_decay=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(cfg["seed"])
    y_val = np.array([c[1] for c in val])
    best = {"auc": -1.0, "state": copy.deepcopy(model.state_dict())}
    history = []
    for epoch in range(s2["epochs"]):
        model.train()
        model.backbone.eval()
        total = 0.0
        for ids in clip_batches(train, s2["batch_size"], rng):
            feats = torch.stack([train[i][0] for i in ids]).to(device)
            feats = feats + 0.05 * feats.std() * torch.randn_like(feats)  # feature noise: few clips
            y = torch.tensor([float(train[i][1]) for i in ids], device=device)
            loss = loss_fn(model.clip_logits(feats), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(ids)
        lstm, mean, _ = score_clips(model, val, device)
        auc = roc_auc(y_val, lstm)
        history.append({"epoch": epoch, "loss": round(total / len(train), 4), "val_clip_auc_lstm": round(auc, 4)})
        if auc > best["auc"]:
            best = {"auc": auc, "state": copy.deepcopy(model.state_dict()), "epoch": epoch}
        if time.time() > deadline:
            break
    model.load_state_dict(best["state"])
    for p in model.parameters():
        p.requires_grad_(True)
    lstm, mean, topk = score_clips(model, val, device)
    methods = [c[2] for c in val]
    kinds = np.array([m.split(":")[0] for m in methods])
    result = {"train_clips": len(train), "val_clips": len(val), "minutes": round((time.time() - start) / 60, 2),
              "best_epoch": best.get("epoch"), "history": history,
              "val_clip_auc_lstm": round(roc_auc(y_val, lstm), 4),
              "val_clip_auc_mean_frame_prob": round(roc_auc(y_val, mean), 4)}
    for kind in ("video", "image"):
        sel = kinds == kind
        if sel.any() and len(set(y_val[sel])) == 2:
            result[f"val_{kind}_auc_lstm"] = round(roc_auc(y_val[sel], lstm[sel]), 4)
            result[f"val_{kind}_auc_mean_frame_prob"] = round(roc_auc(y_val[sel], mean[sel]), 4)
    log(f"stage 2 done: {json.dumps({k: v for k, v in result.items() if k != 'history'})}", logfh)
    return result, (y_val, lstm, mean, kinds, topk)


CLIP_RULES = ("lstm", "mean_frames", "mean_lstm_frames", "topk_frames")  # the names ml.inference.predictor.CLIP_RULES knows


def choose_clip_rule(y: np.ndarray, lstm: np.ndarray, mean: np.ndarray, kinds: np.ndarray,
                     topk: np.ndarray | None = None) -> dict:
    """Pick the video clip rule by validation video AUC (ties: the first listed); calibrate the scores
    inference will produce (videos by that rule, images by their frame probability) on the same
    validation clips; then pick the threshold on the calibrated scores."""
    rules = {"lstm": lstm, "mean_frames": mean, "mean_lstm_frames": (lstm + mean) / 2}
    if topk is not None:
        rules["topk_frames"] = topk
    video = kinds == "video"
    names = [r for r in CLIP_RULES if r in rules]
    aucs = {r: round(roc_auc(y[video], rules[r][video]), 4) for r in names}
    best = max(names, key=lambda r: (np.nan_to_num(aucs[r], nan=-1), -names.index(r)))
    raw = np.where(video, rules[best], mean)
    cal = calibration.fit_by_kind(y, raw, kinds)
    shipped = calibration.apply_by_kind(cal, raw, kinds)
    threshold = pick_threshold(y, shipped)
    cal |= {"fitted_on": f"{len(y)} validation clips of the own split", "ece_before": round(ece(y, raw), 4),
            "ece_after": round(ece(y, shipped), 4), "log_loss_before": round(calibration.log_loss(y, raw), 4),
            "log_loss_after": round(calibration.log_loss(y, shipped), 4)}
    return {"clip_rule": best, "val_video_auc_by_rule": aucs, "threshold": threshold, "calibration": cal,
            "shipped_scores": shipped, "val_metrics_at_threshold": binary_metrics(y, shipped, threshold)}


def finalize(path: Path, *, cache: Path | None = None) -> dict:
    """Re-derive the clip rule and threshold of a saved checkpoint on its validation clips (the same
    seeded clips stage 2 validated on) and store them in its card."""
    from ml.training.checkpoint import load_checkpoint

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


# ------------------------------------------------------------------------------------------- main
def run(cfg: dict, out: Path, *, cache: Path | None = None, limit: int | None = None, resume: bool = False) -> dict | None:
    """One training run. ``resume``: ``cfg`` is the run folder's saved config and its ``state.pt`` is
    continued (stage 1 where it stopped; stage 2, a few minutes and seeded, is redone)."""
    run_dir = Path(cfg.get("run_dir") or REPO / "runs" / time.strftime("train-%Y%m%d-%H%M%S"))
    run_dir.mkdir(parents=True, exist_ok=True)
    logfh = open(run_dir / "train.log", "a")
    torch.set_num_threads(cfg["threads"])
    seed_everything(cfg["seed"])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    state = None
    if resume:
        state = torch.load(run_dir / STATE, map_location="cpu", weights_only=True)
        log(f"resuming {run_dir} ({'stage 2' if state['stage1_done'] else 'stage 1'})", logfh)
    log(f"resolved config: {json.dumps(cfg, sort_keys=True)}", logfh)
    log(f"seed {cfg['seed']}, device {device}, torch {torch.__version__}, python {platform.python_version()}", logfh)
    stop_after = cfg.pop("stop_after_steps", None)
    (run_dir / "config.json").write_text(json.dumps(cfg | {"out": str(out)}, indent=2, sort_keys=True))
    cfg["stop_after_steps"] = stop_after
    started = time.time()
    banks = {s: D.CropBank.load(cache, s, seed=cfg["seed"], limit=limit, fractions=tuple(cfg["split_fractions"]))
             for s in D.SPLITS}
    D.write_split_manifest(banks, run_dir / "splits.json")
    data_summary = {s: b.summary() for s, b in banks.items()}
    log(f"data: {json.dumps(data_summary)}", logfh)
    model = build_model(cfg["model"]["name"], **cfg["model"]["args"])
    init_from = None
    if cfg.get("init_from"):  # continue from an earlier run's weights (same model spec)
        from ml.training.checkpoint import load_checkpoint

        previous, previous_card = load_checkpoint(cfg["init_from"])
        model.load_state_dict(previous.state_dict())
        init_from = {"path": str(cfg["init_from"]), "version": previous_card["version"],
                     "training": previous_card.get("training"), "config": previous_card.get("config")}
        log(f"initialised from {cfg['init_from']} ({previous_card['version']})", logfh)
    model = model.to(device)
    stage1_budget = (cfg["max_minutes"] - cfg["stage2_minutes"]) * 60
    if state and state["stage1_done"]:
        model.load_state_dict(state["best"]["state"])
        h = state["history"]
        stage1 = {"steps": state["step"], "samples_seen": state["seen"], "minutes": round(state["used"] / 60, 2),
                  "best_step": state["best"]["step"], "best_val_auc": round(state["best"]["auc"], 4), "history": h}
    else:
        stage1 = train_frames(model, banks, cfg, device, logfh, stage1_budget, run_dir, resume=state,
                              stop_after=cfg.get("stop_after_steps"))
    stage2, (y_val, lstm, mean, kinds, topk) = train_clips(model, banks, cfg, device, logfh,
                                                     time.time() + cfg["stage2_minutes"] * 60)
    choice = choose_clip_rule(y_val, lstm, mean, kinds, topk)
    threshold, val_metrics = choice["threshold"], choice["val_metrics_at_threshold"]
    log(f"clip rule {choice['clip_rule']} (validation video AUC by rule {choice['val_video_auc_by_rule']}), "
        f"calibration {choice['calibration']}, threshold {threshold}", logfh)
    version = f"{cfg['version_prefix']}-{time.strftime('%Y%m%d-%H%M')}-seed{cfg['seed']}"
    card = {
        "version": version,
        "preprocessing": default_preprocessing(cfg["input_size"]) | {"network_input": backbone_input(cfg["model"]["args"])},
        "threshold": threshold,
        "threshold_rule": THRESHOLD_RULE,
        "clip_rule": choice["clip_rule"],
        "clip_rule_choice": CLIP_RULE_NOTE,
        "config": cfg,
        "training_data": {
            "source": "../shared/data/train (real clips, UTKFace, real photos; StyleGAN2 and Photoshop fakes used as labelled fakes)",
            "pseudo_fakes": "self-blended images, face swaps (similarity/piecewise warp, Reinhard colour, alpha/Poisson, region masks), steady and flickering sequences",
            "splits": "by identity (person where file names tell, else clip/photo): see splits.json in the run folder",
            "summary": data_summary,
        },
        # the validation clips' scores as inference reports them: the reference for drift checks
        "validation_scores": score_histogram(choice["shipped_scores"]),
        "calibration": choice["calibration"],
        "initialised_from": init_from,
        "training": {"stage1": stage1, "stage2": stage2, "wall_minutes": round((time.time() - started) / 60, 2),
                     "device": str(device), "threads": cfg["threads"], "host_cpus": os.cpu_count()},
        "metrics": {"validation": {"frame_auc": stage1["best_val_auc"], **{k: v for k, v in stage2.items() if k.startswith("val_")},
                                   "val_video_auc_by_rule": choice["val_video_auc_by_rule"],
                                   "clip_metrics_at_threshold": val_metrics}},
    }
    spec = {"name": cfg["model"]["name"], "args": cfg["model"]["args"]}
    save_checkpoint(out, model.cpu(), model_spec=spec, card=card)
    (run_dir / "card.json").write_text(json.dumps(card, indent=2, default=str))
    log(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB), version {version}, threshold {threshold}", logfh)
    return card


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[1] / "configs" / "default.json")
    parser.add_argument("--quick", action="store_true", help="a few minutes: tiny budget, small validation")
    parser.add_argument("--out", type=Path, default=None, help="checkpoint path (default ml/weights/detector.pt; --quick: runs/quick.pt)")
    parser.add_argument("--cache", type=Path, default=None, help="crop cache (default <repo>/cache/crops)")
    parser.add_argument("--max-minutes", type=float, default=None, help="time budget of the whole run")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--init-from", type=Path, default=None, metavar="CKPT",
                        help="start from this checkpoint's weights (a continued run; recorded in the card)")
    parser.add_argument("--run-dir", type=Path, default=None, help="logs, config, splits (default runs/train-<time>)")
    parser.add_argument("--limit", type=int, default=None, help="load only N cached items per split (smoke tests)")
    parser.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                        help="continue an interrupted run from its folder (config, state.pt): same data stream, "
                             "schedule and time budget")
    parser.add_argument("--stop-after-steps", type=int, default=None, metavar="N",
                        help="stop stage 1 after N steps with its state saved, as a kill would (to test --resume)")
    parser.add_argument("--finalize", type=Path, default=None, metavar="CKPT",
                        help="only re-derive the clip rule and threshold of a saved checkpoint on its validation clips")
    args = parser.parse_args(argv)
    if args.finalize:
        print(json.dumps({k: v for k, v in finalize(args.finalize, cache=args.cache).items() if k != "shipped_scores"},
                         indent=1))
        return
    if args.resume:
        cfg = json.loads((args.resume / "config.json").read_text())
        cfg["run_dir"] = str(args.resume)
        out = args.out or Path(cfg.pop("out"))
        cfg["stop_after_steps"] = args.stop_after_steps
        try:
            run(cfg, out, cache=args.cache, limit=args.limit, resume=True)
        except Interrupted as exc:
            print(f"interrupted: {exc}; continue with --resume {args.resume}")
        return
    cfg = merge(DEFAULTS, json.loads(args.config.read_text()) if args.config and args.config.exists() else {})
    if args.quick:
        cfg = merge(cfg, QUICK)
    if args.max_minutes is not None:
        cfg["max_minutes"] = args.max_minutes
        cfg["stage2_minutes"] = min(cfg["stage2_minutes"], args.max_minutes / 3)
    if args.seed is not None:
        cfg["seed"] = args.seed
    if args.run_dir:
        cfg["run_dir"] = str(args.run_dir)
    if args.init_from:
        cfg["init_from"] = str(args.init_from)
    out = args.out or (REPO / "runs" / "quick.pt" if args.quick else REPO / "ml" / "weights" / "detector.pt")
    cfg["stop_after_steps"] = args.stop_after_steps
    try:
        run(cfg, out, cache=args.cache, limit=args.limit)
    except Interrupted as exc:
        print(f"interrupted: {exc}; continue with --resume {cfg.get('run_dir') or 'RUN_DIR'}")


if __name__ == "__main__":
    sys.exit(main())
