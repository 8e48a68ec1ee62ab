"""Train and compare CLIP-feature heads on the cached features: ``python -m ml.training.clip_train``.

Everything here runs on ``ml.training.clip_features``' cache, so a recipe costs seconds to a minute:

- splits: the pool's groups and the older items' identities dealt into train / val / test
  (``ml.training.clip_features.group_splits``); whole groups, so validation holds out whole source groups and
  the generator families that live only in them. ``data/dev`` (and its unseen talking-head families)
  is scored, never trained on or used for a choice.
- the frame head: L2-regularised logistic regression (full-batch L-BFGS) on standardised features,
  each item weighted so that every (kind, label) cell counts the same;
- the sequence head: projection + bidirectional LSTM over a video's frame features;
- the clip rule (LSTM, mean of frames, top quarter of frames) and the per-kind calibration are chosen
  and fitted on validation.

``--ablation`` trains every recipe of the card's ablation table and writes it; the default trains the
recipe named by ``--recipe`` and writes the checkpoint (``--out``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ml import calibration
from ml.models.clip_detector import ClipLSTM, combine
from ml.training.clip_features import TAPS, load_features, load_manifest
from ml.metrics import roc_auc
from ml.training.clip_finish import by_method, detector_card, finish, raw_score, report, save_detector, split_summary


@dataclass(frozen=True)
class Recipe:
    name: str = "clip-l12-both"
    layer: int = 12
    extra_layers: tuple[int, ...] = ()  # more blocks' features concatenated (the model runs to the deepest)
    parts: tuple[str, ...] = ("cls", "patch")
    l2norm: bool = True
    weight_decay: float = 1e-2      # L2 on the frame head (per sample, mean loss)
    feature: str = "summary"        # or "embed": CLIP's 512-d image embedding (the UnivFD probe)
    pseudo_fakes: bool = False      # add the cached self-blended crops (ml.training.clip_extra sbi) as fakes
    degraded: bool = False          # add the cached compressed/resized copies of train videos (ml.training.clip_extra degrade)
    encoder: str = "fp32"           # "int8": the wheel's own INT8 graph (ml.evaluation.clip_int8; block 12 only)
    max_frames: int = 0             # only the first N cached frames of each item (the INT8 comparison)
    lstm_epochs: int = 40
    seed: int = 0


RECIPES = {
    "clip-l12-both": Recipe(),
    "clip-l12-cls": Recipe(name="clip-l12-cls", parts=("cls",)),
    "clip-l12-patch": Recipe(name="clip-l12-patch", parts=("patch",)),
    "clip-l8-both": Recipe(name="clip-l8-both", layer=8),
    "clip-l10-both": Recipe(name="clip-l10-both", layer=10),
    "clip-l6-both": Recipe(name="clip-l6-both", layer=6),
    "clip-l12-both-raw": Recipe(name="clip-l12-both-raw", l2norm=False),
    "clip-embed": Recipe(name="clip-embed", feature="embed", parts=("cls",)),
    "clip-l8l12-both": Recipe(name="clip-l8l12-both", layer=8, extra_layers=(12,)),
    "clip-l8-both-wd1e-1": Recipe(name="clip-l8-both-wd1e-1", layer=8, weight_decay=1e-1),
    "clip-l8-both-wd1e-3": Recipe(name="clip-l8-both-wd1e-3", layer=8, weight_decay=1e-3),
    "clip-l8-both-wd1": Recipe(name="clip-l8-both-wd1", layer=8, weight_decay=1.0),
    "clip-l12-both-2f": Recipe(name="clip-l12-both-2f", max_frames=2),
    "int8-l12-both-2f": Recipe(name="int8-l12-both-2f", max_frames=2, encoder="int8"),
}


def recipe_named(name: str) -> Recipe:
    """A recipe by name; ``NAME+sbi`` adds the self-blended pseudo-fakes, ``NAME+deg`` the degraded copies."""
    base, *extras = name.split("+")
    recipe = RECIPES[base]
    for extra in extras:
        recipe = replace(recipe, **{"sbi": {"pseudo_fakes": True}, "deg": {"degraded": True}}[extra])
    return replace(recipe, name=name)


def int8_features(rows: list[dict]) -> list[dict]:
    """Rows that the INT8 graph has scored (``ml.evaluation.clip_int8``), with its arrays in place of ours:
    its block-12 summary stands at every tap (only block 12 exists for it)."""
    from ml.training.clip_features import int8_dir

    out = []
    for r in rows:
        path = int8_dir() / f"{r.get('key')}.npz"
        if path.exists():
            with np.load(path) as z:
                summary = np.repeat(z["summary"][:, None], len(TAPS), 1)
                out.append(r | {"summary": summary, "embed": z["embed"]})
    return out


def restrict(rows: list[dict], recipe: Recipe) -> list[dict]:
    """The rows a recipe sees: for the INT8 comparison, both encoders on the same items and frames."""
    if recipe.max_frames:
        from ml.training.clip_features import int8_dir

        rows = [r for r in rows if (int8_dir() / f"{r.get('key')}.npz").exists()]
        if recipe.encoder == "int8":
            rows = int8_features(rows)
        rows = [r | {"summary": r["summary"][: recipe.max_frames], "embed": r["embed"][: recipe.max_frames]} for r in rows]
    return rows


# ------------------------------------------------------------------------------------------ data
def frame_features(rows: list[dict], recipe: Recipe) -> list[np.ndarray]:
    """Per item: N x D frame features (before standardisation)."""
    out = []
    for r in rows:
        if recipe.feature == "embed":
            e = torch.from_numpy(r["embed"].astype(np.float32))
            out.append((e / e.norm(dim=-1, keepdim=True) if recipe.l2norm else e).numpy())
            continue
        both = torch.from_numpy(r["summary"].astype(np.float32))
        out.append(np.concatenate([combine(both[:, TAPS.index(layer), 0], both[:, TAPS.index(layer), 1], recipe.parts,
                                           recipe.l2norm).numpy() for layer in (recipe.layer, *recipe.extra_layers)], -1))
    return out


def item_weights(rows: list[dict]) -> np.ndarray:
    """Each (kind, label) cell weighs the same in total; inside a cell every item the same."""
    cells: dict[tuple, int] = {}
    for r in rows:
        cells[(r["kind"], r["label"])] = cells.get((r["kind"], r["label"]), 0) + 1
    return np.array([1.0 / (len(cells) * cells[(r["kind"], r["label"])]) for r in rows])


def fit_frame_head(x: np.ndarray, y: np.ndarray, w: np.ndarray, weight_decay: float,
                   init: tuple[np.ndarray, float] | None = None) -> tuple[np.ndarray, float]:
    """Weighted logistic regression by full-batch L-BFGS; returns (weights, bias). ``init`` (a warm
    start's weights and bias): start there and shrink towards them instead of towards zero, so a few
    new items adjust the head rather than replace it."""
    xt, yt, wt = (torch.from_numpy(a).float() for a in (x, y, w / w.sum()))
    lin = torch.nn.Linear(x.shape[1], 1)
    anchor = torch.zeros(x.shape[1]) if init is None else torch.as_tensor(init[0], dtype=torch.float32).reshape(-1)
    with torch.no_grad():
        lin.weight.copy_(anchor[None])
        lin.bias.fill_(0.0 if init is None else float(init[1]))
    opt = torch.optim.LBFGS(lin.parameters(), lr=1, max_iter=300, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(lin(xt)[:, 0], yt, reduction="none") * wt).sum()
        loss = loss + 0.5 * weight_decay * (lin.weight[0] - anchor).pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return lin.weight.detach()[0].numpy(), float(lin.bias.detach()[0])


def fit_lstm(model: ClipLSTM, seqs: list[np.ndarray], labels: np.ndarray, *, epochs: int, seed: int) -> None:
    """Train the projection, LSTM and clip head on videos' standardised frame features."""
    torch.manual_seed(seed)
    params = [*model.proj.parameters(), *model.lstm.parameters(), *model.clip_head.parameters()]
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=1e-2)
    pos = labels.mean()
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(seqs))
        for start in range(0, len(order), 32):
            batch = order[start:start + 32]
            t = min(len(seqs[i]) for i in batch)
            x = torch.stack([torch.from_numpy(seqs[i][:t]).float() for i in batch])
            y = torch.from_numpy(labels[batch]).float()
            w = torch.where(y > 0, 0.5 / pos, 0.5 / (1 - pos))
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(model.clip_logits(x), y, reduction="none") * w).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()


# ---------------------------------------------------------------------------------------- training
def train(recipe: Recipe, rows: list[dict], *, log=print, warm: ClipLSTM | None = None) -> tuple[ClipLSTM, dict]:
    """Fit a head on the train split; returns the model (encoder not loaded) and the scored items.
    ``warm``: a trained head (same recipe) to continue from: its feature standardisation is kept, the
    frame head starts from and shrinks towards its weights, its LSTM is fine-tuned (``recipe.lstm_epochs``)."""
    started = time.time()
    rows = restrict(rows, recipe)
    feats = frame_features(rows, recipe)
    train_idx = [i for i, r in enumerate(rows) if r["split"] == "train" and (recipe.pseudo_fakes or r["root"] != "sbi")
                 and (recipe.degraded or r["root"] != "degrade")]
    x = np.concatenate([feats[i] for i in train_idx])
    if warm is None:
        mean, std = x.mean(0), x.std(0) + 1e-6
    else:
        mean, std = warm.feature_mean.numpy().astype(np.float64), warm.feature_std.numpy().astype(np.float64)
    w_item = item_weights([rows[i] for i in train_idx])
    w = np.concatenate([np.full(len(feats[i]), wi / len(feats[i])) for i, wi in zip(train_idx, w_item)])
    y = np.concatenate([np.full(len(feats[i]), rows[i]["label"] == "fake", float) for i in train_idx])
    init = None if warm is None else (warm.frame_head.weight.detach()[0].numpy(), float(warm.frame_head.bias.detach()[0]))
    coef, bias = fit_frame_head((x - mean) / std, y, w, recipe.weight_decay, init=init)

    dim = x.shape[1]
    parts = recipe.parts if recipe.feature == "summary" else ("cls",)
    torch.manual_seed(recipe.seed)  # the LSTM's initial weights: a recipe is one fixed model
    model = warm if warm is not None else ClipLSTM(layer=recipe.layer, extra_layers=recipe.extra_layers, parts=parts,
                                                   l2norm=recipe.l2norm, pretrained=False)
    if model.frame_head.in_features != dim:  # the embedding probe: another width
        model.frame_head = torch.nn.Linear(dim, 1)
        model.proj = torch.nn.Linear(dim, model.proj.out_features)
        model.feature_mean, model.feature_std = torch.zeros(dim), torch.ones(dim)
    with torch.no_grad():
        model.feature_mean.copy_(torch.from_numpy(mean))
        model.feature_std.copy_(torch.from_numpy(std))
        model.frame_head.weight.copy_(torch.from_numpy(coef)[None])
        model.frame_head.bias.fill_(bias)
    videos = [i for i in train_idx if rows[i]["kind"] == "video"]
    video_labels = np.array([rows[i]["label"] == "fake" for i in videos], float)
    if len(set(video_labels.tolist())) == 2:
        fit_lstm(model, [(feats[i] - mean) / std for i in videos], video_labels, epochs=recipe.lstm_epochs, seed=recipe.seed)
    else:  # class weights need both classes: the LSTM stays as it is (a warm start's, or untrained)
        log(f"{recipe.name}: LSTM not trained (training videos of one class or none)")
        model.eval()
    scored = score_rows(model, rows, feats, mean, std)
    log(f"{recipe.name}: trained in {time.time() - started:.1f} s on {len(train_idx)} items ({len(x)} crops)")
    return model, {"scored": scored, "seconds": round(time.time() - started, 1), "train_items": len(train_idx),
                   "train_crops": int(len(x))}


def score_rows(model: ClipLSTM, rows, feats, mean, std, frames: int | None = None) -> list[dict]:
    """Every item's frame probabilities and LSTM probability (``frames``: only that many, evenly spaced)."""
    out = []
    with torch.no_grad():
        for r, f in zip(rows, feats):
            if frames and len(f) > frames:
                f = f[np.linspace(0, len(f) - 1, frames).round().astype(int)]
            z = torch.from_numpy((f - mean) / std).float()
            probs = torch.sigmoid(model.frame_logits(z)).numpy()
            lstm = float(torch.sigmoid(model.clip_logits(z[None]))[0])
            out.append({**{k: r[k] for k in ("root", "path", "label", "kind", "method", "group", "split", "condition")},
                        "frames": probs.astype(float), "lstm": lstm})
    return out


def frame_count_table(model, rows, feats, mean, std, rule) -> dict:
    """Dev video AUC when a clip is judged on 1, 2, 4, 6 or 8 frames (what the frame count buys)."""
    out = {}
    for n in (1, 2, 4, 6, 8):
        scored = score_rows(model, rows, feats, mean, std, frames=n)
        sel = [s for s in scored if s["split"] in ("dev", "dev_th") and s["kind"] == "video" and s["condition"] == "clean"]
        out[n] = {split: round(roc_auc([s["label"] == "fake" for s in sel if s["split"] == split],
                                       [raw_score(s, rule) for s in sel if s["split"] == split]), 4) for split in ("dev", "dev_th")}
    return out


def score_baseline(checkpoint: Path, rows: list[dict], log=print) -> tuple[list[dict], str, dict]:
    """Another detector (the shipped CNN-LSTM) on the same cached crops, resized to its input, scored
    by its own clip rule; returns (scored rows, rule, its validation-fitted calibration)."""
    from ml.models.checkpoint import load_checkpoint
    from ml.training.clip_features import cache_root
    from ml.inference.sequence import resize_all, score_sequence

    model, card = load_checkpoint(checkpoint)
    size, started, out = int(card["preprocessing"]["input_size"]), time.time(), []
    for r in rows:
        if r.get("method") == "sbi":
            continue
        with np.load(cache_root() / "items" / f"{r['key']}.npz") as z:
            res = score_sequence(model, resize_all(z["crops"], size))
        out.append({**{k: r[k] for k in ("root", "path", "label", "kind", "method", "group", "split", "condition")},
                    "frames": res["frames"].astype(float), "lstm": res["lstm"]})
    log(f"baseline {card['version']}: scored {len(out)} items in {time.time() - started:.0f} s")
    return out, card.get("clip_rule", "lstm"), card


# ------------------------------------------------------------------------------------------ CLI
def load_rows() -> list[dict]:
    rows = load_features(load_manifest())
    if not rows:
        raise SystemExit("no cached features: run python -m ml.training.clip_features first")
    return rows


def ablation_line(name: str, rep: dict, minutes: float, rule: str, rule_aucs: dict | None = None) -> str:
    def f(k, ci=True):
        if k not in rep:
            return "-"
        v = rep[k]
        return f"{v['auc']:.3f} [{v['ci95'][0]:.2f}-{v['ci95'][1]:.2f}]" if ci else f"{v['auc']:.3f}"
    lstm_vs_mean = f"{rule_aucs['lstm']:.3f} / {rule_aucs['mean_frames']:.3f}" if rule_aucs else "-"
    return (f"| {name} | {rule} | {f('val_video')} | {lstm_vs_mean} | {f('val_image', False)} | "
            f"{rep.get('val_video_crf35', {}).get('drop', '-')} | {f('dev_video')} | "
            f"{f('dev_th_video')} | {f('dev_image')} | {rep.get('dev_video_crf35', {}).get('drop', '-')} | {minutes:.2f} |")


ABLATION_HEADER = ("| recipe | clip rule | val video AUC [95%] (held-out groups) | val video AUC, LSTM / mean of frames | "
                   "val image AUC | CRF 35 drop (val video) | dev video AUC [95%] | dev talking heads AUC [95%] | "
                   "dev image AUC [95%] | CRF 35 drop (dev video) | minutes |\n|---|---|---|---|---|---|---|---|---|---|---|")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.training.clip_train", description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="clip-l12-both", help=f"one of {sorted(RECIPES)}, or NAME+sbi")
    parser.add_argument("--ablation", nargs="*", default=None, help="recipes to compare (none named: all)")
    parser.add_argument("--pseudo-fakes", action="store_true")
    parser.add_argument("--baseline", type=Path, default=None, help="with --ablation: also score this checkpoint (the shipped model)")
    parser.add_argument("--out", type=Path, default=None, help="write the checkpoint here")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--frames", type=int, default=8, help="frames per clip at inference (the card's)")
    parser.add_argument("--frame-counts", action="store_true", help="also print dev video AUC at 1-8 frames a clip")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    rows = load_rows()
    print("items by split: " + json.dumps(split_summary(rows)), flush=True)
    if args.ablation is not None:
        names = args.ablation or list(RECIPES)
        lines, results = [ABLATION_HEADER], {}
        if args.baseline:
            scored, rule, card = score_baseline(args.baseline, rows)
            val = [x for x in scored if x["split"] == "val" and x["condition"] == "clean"]
            cal = calibration.fit_by_kind([x["label"] == "fake" for x in val], [raw_score(x, rule) for x in val], [x["kind"] for x in val])
            rep = report(scored, rule, cal, 0.5)
            rule_aucs = {r: round(roc_auc([x["label"] == "fake" for x in val if x["kind"] == "video"],
                                          [raw_score(x, r) for x in val if x["kind"] == "video"]), 4) for r in ("lstm", "mean_frames")}
            lines.append(ablation_line(f"shipped {card['version']}", rep, float((card.get("training") or {}).get("wall_minutes") or 0),
                                       rule, rule_aucs))
            results["baseline"] = {"version": card["version"], "rule": rule, "report": rep}
            print(lines[-1], flush=True)
        for name in names:
            recipe = recipe_named(name)
            model, fit = train(recipe, rows)
            rule, rule_aucs, cal, threshold, rep = finish(fit["scored"])
            lines.append(ablation_line(name, rep, fit["seconds"] / 60, rule, rule_aucs))
            results[name] = {"rule": rule, "rule_aucs": rule_aucs, "report": rep}
            print(lines[-1], flush=True)
        print("\n".join(lines))
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
        return
    recipe = recipe_named(args.recipe)
    if args.pseudo_fakes:
        recipe = replace(recipe, pseudo_fakes=True)
    model, fit = train(recipe, rows)
    rule, rule_aucs, cal, threshold, rep = finish(fit["scored"])
    print(json.dumps({"rule": rule, "rule_aucs": rule_aucs, "calibration": cal, "report": rep}, indent=1))
    print("by method (dev videos): " + json.dumps(by_method(fit["scored"], rule, "dev")))
    print("by method (dev talking heads): " + json.dumps(by_method(fit["scored"], rule, "dev_th")))
    print("by method (validation videos): " + json.dumps(by_method(fit["scored"], rule, "val")))
    if args.frame_counts:
        table = frame_count_table(model, rows, frame_features(rows, recipe), model.feature_mean.numpy(),
                                  model.feature_std.numpy(), rule)
        fit["frame_counts"] = table
        print("dev video AUC by frames per clip: " + json.dumps(table))
    if args.out:
        card = detector_card(recipe, rule=rule, rule_aucs=rule_aucs, calibration=cal, threshold=threshold, report=rep,
                             fit=fit, rows=rows, frames=args.frames)
        save_detector(args.out, model, recipe, card)
        print(f"wrote {args.out} ({card['version']})")


if __name__ == "__main__":
    sys.exit(main())
