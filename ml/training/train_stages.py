"""The CNN-LSTM's two training stages (``python -m ml.train`` runs them): stage 1, the CNN and its frame head
on single crops within a time budget, resumable from its saved state; stage 2, the CNN frozen, the LSTM
and clip head on sequences of crop features."""
from __future__ import annotations

import copy
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ml.clip_rules import topk_mean
from ml.metrics import roc_auc
from ml.models.builders import preprocess
from ml.training import data as D


def log(msg: str, fh=None) -> None:
    """A timestamped line on standard output and in the run's log file ``fh``."""
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    if fh:
        fh.write(line + "\n")
        fh.flush()


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
