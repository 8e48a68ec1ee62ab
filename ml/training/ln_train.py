"""Detector v4: tune CLIP's LayerNorms with a frame head and a patch loss, on cached tokens.

``python -m ml.training.ln_train --recipe ln8-full --out runs/ln8-full`` (resumable: rerun the same
command after an interruption; each epoch is saved). The tokens at the first tuned block's input come from
``ml.training.token_cache``; the blocks from there to the read block run here, in bf16 autocast, with only
the LayerNorms of the last ``tuned`` blocks trainable (GenD / LNCLIP-DF: 0.03% of the parameters), the head
reading the L2-normalised class and mean patch tokens. What a recipe can switch:

- ``pairs``: half of every batch is real and fake crops of the same source group (the same people or
  source clip), so "which source" is not a shortcut (GenD's ablation finds this essential);
- ``degraded``: the compressed and resized copies of the training items (both labels);
- ``sbi``: self-blended pseudo-fakes; ``patch``: their exact blend masks (and real crops' all-zero maps)
  supervise the frame head's per-patch scores, which are the heatmaps the portal draws.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ml.models.clip_detector import ClipLSTM, combine
from ml.training.token_cache import load_manifest, v4_root


@dataclass(frozen=True)
class LNRecipe:
    name: str
    layer: int = 8          # the block the head reads (8: tokens after block 4 cached; 12: after block 8)
    tuned: int = 4          # LayerNorms of the last `tuned` blocks up to `layer` are trained (0: frozen)
    pairs: bool = True
    degraded: bool = True
    sbi: bool = True
    patch: bool = True
    epochs: int = 3
    per_epoch: int = 2400   # crops drawn per epoch
    batch: int = 32
    lr_ln: float = 3e-4
    lr_head: float = 1e-3
    patch_weight: float = 0.2
    seed: int = 0

    @property
    def start(self) -> int:
        return self.layer - 4

    @property
    def tuned_blocks(self) -> tuple[int, ...]:
        return tuple(range(self.layer - self.tuned + 1, self.layer + 1))


RECIPES = {r.name: r for r in [
    LNRecipe("ln8-full"),
    LNRecipe("frozen8-full", tuned=0),
    LNRecipe("ln8-nopairs", pairs=False),
    LNRecipe("ln8-nopatch", patch=False),
    LNRecipe("ln8-nodeg", degraded=False),
    LNRecipe("ln12-full", layer=12),
    LNRecipe("ln8-2blocks", tuned=2),
]}


# ------------------------------------------------------------------------------------------ data
def rows_for(recipe: LNRecipe, splits: set[str]) -> list[dict]:
    out = []
    for r in load_manifest():
        if r["status"] != "ok" or r["split"] not in splits:
            continue
        if r["variant"] == "degraded" and not recipe.degraded:
            continue
        if r["variant"] == "sbi" and not recipe.sbi:
            continue
        out.append(r)
    return out


class Bank:
    """All crops of some manifest rows in memory: tokens at the recipe's start, labels, masks, owners."""

    def __init__(self, rows: list[dict], start: int):
        key = f"tok{start}"
        toks, masks, self.owner, self.label, self.kind, self.has_mask = [], [], [], [], [], []
        for i, r in enumerate(rows):
            with np.load(v4_root() / "items" / f"{r['key']}.npz") as z:
                toks.append(z[key])
                n = len(z[key])
                masks.append(z["mask"] if "mask" in z.files else np.zeros((n, 14, 14), np.float16))
                self.has_mask += [("mask" in z.files) or r["label"] == "real"] * n
            self.owner += [i] * n
            self.label += [1.0 if r["label"] == "fake" else 0.0] * n
            self.kind += [r["kind"]] * n
        self.rows = rows
        self.tokens = np.concatenate(toks) if toks else np.zeros((0, 197, 768), np.float16)
        self.masks = np.concatenate(masks) if masks else np.zeros((0, 14, 14), np.float16)
        self.owner, self.label = np.array(self.owner), np.array(self.label, np.float32)
        self.kind, self.has_mask = np.array(self.kind), np.array(self.has_mask)


def draw_batches(bank: Bank, recipe: LNRecipe, rng: np.random.Generator) -> list[np.ndarray]:
    """``per_epoch`` crop indices in batches: label and kind balanced; with ``pairs``, half of each batch
    is real and fake crops of groups that hold both."""
    groups = np.array([bank.rows[o]["group"] for o in bank.owner])
    pools = {(k, y): np.flatnonzero((bank.kind == k) & (bank.label == y)) for k in ("video", "image") for y in (0.0, 1.0)}
    pools = {k: v for k, v in pools.items() if len(v)}
    both = [g for g in np.unique(groups) if len(set(bank.label[groups == g])) == 2]
    by_group = {g: (np.flatnonzero((groups == g) & (bank.label == 0)), np.flatnonzero((groups == g) & (bank.label == 1)))
                for g in both}
    batches = []
    for _ in range(recipe.per_epoch // recipe.batch):
        picks = []
        if recipe.pairs and both:
            for g in rng.choice(both, recipe.batch // 8, replace=len(both) < recipe.batch // 8):
                real, fake = by_group[g]
                picks += list(rng.choice(real, 2)) + list(rng.choice(fake, 2))
        keys = list(pools)
        while len(picks) < recipe.batch:
            pool = pools[keys[rng.integers(len(keys))]]
            picks.append(pool[rng.integers(len(pool))])
        batches.append(np.array(picks))
    return batches


# ----------------------------------------------------------------------------------------- model
def build(recipe: LNRecipe, train: Bank) -> ClipLSTM:
    """A ClipLSTM reading block ``layer``, with the tuned LayerNorms trainable and features standardised
    by the frozen encoder's statistics on the training crops (fixed buffers)."""
    model = ClipLSTM(layer=recipe.layer, tuned_blocks=recipe.tuned_blocks if recipe.tuned else ())
    model.requires_grad_(False)
    for name, p in model.named_parameters():
        if name.startswith(model.tuned_prefixes()) or name.startswith("frame_head."):
            p.requires_grad_(True)
    sample = np.random.default_rng(0).choice(len(train.tokens), min(800, len(train.tokens)), replace=False)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        f = raw_features(model, recipe, torch.from_numpy(train.tokens[np.sort(sample)]).float())[0].float()
    model.feature_mean.copy_(f.mean(0))
    model.feature_std.copy_(f.std(0).clamp_min(1e-4))
    return model


def raw_features(model: ClipLSTM, recipe: LNRecipe, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(unstandardised frame features, hidden state of block ``layer``) from cached tokens."""
    hidden = model.encoder(None, taps=(recipe.layer,), start=recipe.start, tokens=tokens)[0]
    return combine(hidden[:, 0], hidden[:, 1:].mean(1), model.parts, model.l2norm), hidden


def forward(model: ClipLSTM, recipe: LNRecipe, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(frame logits N, patch scores N x 14 x 14)."""
    f, hidden = raw_features(model, recipe, tokens)
    logits = model.frame_logits((f - model.feature_mean) / model.feature_std)
    return logits, model.patch_scores([hidden])


def score_bank(model: ClipLSTM, recipe: LNRecipe, bank: Bank, batch: int = 48) -> np.ndarray:
    """Frame probabilities (uncalibrated) of every crop in the bank."""
    model.eval()
    out = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        for i in range(0, len(bank.tokens), batch):
            logits, _ = forward(model, recipe, torch.from_numpy(bank.tokens[i:i + batch]).float())
            out.append(torch.sigmoid(logits.float()).numpy())
    return np.concatenate(out) if out else np.zeros(0)


# -------------------------------------------------------------------------------------- training
def train(recipe: LNRecipe, out: Path, *, log=print) -> tuple[ClipLSTM, dict]:
    """Train (or resume) a recipe; ``out/state.pt`` after every epoch, ``out/done.json`` at the end."""
    torch.manual_seed(recipe.seed)
    out.mkdir(parents=True, exist_ok=True)
    rows = rows_for(recipe, {"train"})
    bank = Bank(rows, recipe.start)
    log(f"{recipe.name}: {len(rows)} items, {len(bank.tokens)} crops "
        f"({int(bank.label.sum())} fake), {len(set(r['group'] for r in rows))} groups")
    model = build(recipe, bank)
    params = [{"params": [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("encoder.")],
               "lr": recipe.lr_ln},
              {"params": list(model.frame_head.parameters()), "lr": recipe.lr_head}]
    params = [g for g in params if g["params"]]
    patch_bias = nn.Parameter(torch.zeros(1))
    optim = torch.optim.AdamW(params + [{"params": [patch_bias], "lr": recipe.lr_head}], weight_decay=1e-2)
    state_path, epoch, minutes = out / "state.pt", 0, 0.0
    if state_path.exists():
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        patch_bias.data.copy_(state["patch_bias"])
        epoch, minutes = state["epoch"], state["minutes"]
        log(f"resumed after epoch {epoch}")
    bce = nn.BCEWithLogitsLoss()
    while epoch < recipe.epochs:
        started, losses = time.time(), []
        model.train()
        rng = np.random.default_rng([recipe.seed, epoch])
        for b, idx in enumerate(draw_batches(bank, recipe, rng)):
            idx = np.sort(idx)
            tokens = torch.from_numpy(bank.tokens[idx]).float()
            y = torch.from_numpy(bank.label[idx])
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits, patches = forward(model, recipe, tokens)
            loss = bce(logits.float(), y)
            sel = bank.has_mask[idx]
            if recipe.patch and sel.any():
                target = torch.from_numpy(bank.masks[idx][sel].astype(np.float32)).clamp(0, 1)
                loss = loss + recipe.patch_weight * bce(patches.float()[torch.from_numpy(sel)] + patch_bias, target)
            optim.zero_grad()
            loss.backward()
            optim.step()
            losses.append(float(loss))
            if b % 25 == 0:
                log(f"  epoch {epoch + 1} batch {b}: loss {np.mean(losses[-25:]):.4f} ({time.time() - started:.0f} s)")
        epoch += 1
        minutes += (time.time() - started) / 60
        torch.save({"model": model.state_dict(), "optim": optim.state_dict(), "patch_bias": patch_bias.data,
                    "epoch": epoch, "minutes": minutes}, state_path)
        log(f"epoch {epoch}/{recipe.epochs}: loss {np.mean(losses):.4f}, {minutes:.1f} min so far")
    model.eval()
    info = {"recipe": asdict(recipe), "minutes": round(minutes, 2), "train_items": len(rows),
            "train_crops": int(len(bank.tokens)), "hardware": "2 CPU cores (AVX-512 BF16), bf16 autocast"}
    (out / "done.json").write_text(json.dumps(info, indent=1))
    return model, info


def refit_head(model: ClipLSTM, recipe: LNRecipe, run: Path, *, weight_decay: float = 1e-2, log=print) -> ClipLSTM:
    """The frame head refitted to convergence on the tuned features of every training crop (v3's weighted
    logistic regression by L-BFGS, each (kind, label) cell weighing the same), keeping the tuned
    LayerNorms. A few SGD epochs leave the head short of the optimum; this is convex and takes a minute.
    Cached as ``run/refit.pt``."""
    from ml.training.clip_train import fit_frame_head, item_weights

    cached = run / "refit.pt"
    if cached.exists():
        model.load_state_dict(torch.load(cached, weights_only=False))
        return model.eval()
    rows = rows_for(recipe, {"train"})
    bank = Bank(rows, recipe.start)
    feats = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        for i in range(0, len(bank.tokens), 48):
            feats.append(raw_features(model, recipe, torch.from_numpy(bank.tokens[i:i + 48]).float())[0].float().numpy())
    x = np.concatenate(feats)
    mean, std = x.mean(0), np.maximum(x.std(0), 1e-4)
    per_item = item_weights(rows)
    counts = np.bincount(bank.owner, minlength=len(rows))
    w = per_item[bank.owner] / counts[bank.owner]
    weight, bias = fit_frame_head((x - mean) / std, bank.label, w, weight_decay)
    with torch.no_grad():
        model.feature_mean.copy_(torch.from_numpy(mean))
        model.feature_std.copy_(torch.from_numpy(std))
        model.frame_head.weight.copy_(torch.from_numpy(weight)[None])
        model.frame_head.bias.fill_(bias)
    torch.save(model.state_dict(), cached)
    log(f"{recipe.name}: frame head refitted on {len(x)} crops")
    return model.eval()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.training.ln_train", description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", required=True, choices=sorted(RECIPES))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--per-epoch", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    recipe = RECIPES[args.recipe]
    if args.epochs:
        recipe = replace(recipe, epochs=args.epochs)
    if args.per_epoch:
        recipe = replace(recipe, per_epoch=args.per_epoch)
    train(recipe, args.out, log=lambda m: print(m, flush=True))


if __name__ == "__main__":
    sys.exit(main())
