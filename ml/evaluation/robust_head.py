"""Adversarial fine-tuning of detector v4's trainable part (its linear frame head on frozen CLIP block-8
features): ``python -m ml.evaluation.robust_head [--eps 4] [--steps 2] [--out H.npz]``, then its clean cost.

One round of PGD adversarial training on the cached *train* crops (``ml.evaluation.adv_cache`` part
``train``; never dev or dev-wild): each item's middle crop is attacked with ``--steps``-step PGD at ``--eps``
/255 against the shipped head, pushed towards the wrong label (fakes towards "real", reals towards "fake"),
and the head is refitted on clean and adversarial features together, starting from the shipped weights
and pulled towards them (weighted logistic loss, classes equal, + ``--pull`` x squared distance). The
encoder is frozen, so only the head moves: it can learn to lean on feature directions the attack moved
least. Adversarial features are cached (``$ADV_CACHE/advtrain``), so a rerun refits without attacking.

``--report`` prints clean ROC AUC of the shipped and the new head on dev (videos, talking heads, images) and
dev-wild from the cached features, with the CPU seconds the attack pass took.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from ml.evaluation import attacks as A
from ml.evaluation.adv_cache import cache_dir, load_items


def shipped():
    from ml.paths import DEFAULT_CHECKPOINT
    from ml.models.checkpoint import load_checkpoint

    return load_checkpoint(DEFAULT_CHECKPOINT)[0].eval().requires_grad_(False)


def adversarial_features(model, eps: float, steps: int, items: int = 10 ** 6, log=print) -> dict:
    """Standardised features of clean and attacked middle crops of the train items (cached)."""
    path = cache_dir() / "advtrain" / f"eps{round(eps * 255)}_steps{steps}_items{items}.npz"
    if path.exists():
        with np.load(path) as z:
            return dict(z)
    path.parent.mkdir(parents=True, exist_ok=True)
    from ml.evaluation.tamper_calibrate import spread

    train = load_items("train")
    items = spread([it for it in train if it["label"] == "real"], items // 2) + \
        spread([it for it in train if it["label"] == "fake"], items - items // 2)
    clean, adv, labels, started = [], [], [], time.process_time()
    for i, it in enumerate(items):
        x = A.to_pixels(it["crops"][len(it["crops"]) // 2][None])
        y = 1.0 if it["label"] == "fake" else -1.0  # fakes pushed down, reals pushed up
        fn = A.logits_fn(model)
        x_adv = A.pgd(lambda p: y * fn(p), x, eps, steps=steps, seed=i)
        with torch.no_grad():
            clean.append(model.embed(x * 2 - 1).numpy())
            adv.append(model.embed(x_adv * 2 - 1).numpy())
        labels.append(int(it["label"] == "fake"))
        if (i + 1) % 20 == 0:
            log(f"[{i + 1}/{len(items)}] {time.process_time() - started:.0f} CPU s")
    out = {"clean": np.concatenate(clean), "adv": np.concatenate(adv), "labels": np.array(labels),
           "cpu_seconds": np.array(time.process_time() - started)}
    np.savez(path, **out)
    return out


def refit(w0: np.ndarray, b0: float, feats: dict, *, adv_weight: float = 1.0, pull: float = 1e-3,
          iterations: int = 300) -> tuple[np.ndarray, float]:
    """The head refitted on clean + adversarial features from (w0, b0), classes weighted equally."""
    x = torch.from_numpy(np.concatenate([feats["clean"], feats["adv"]])).float()
    y = torch.from_numpy(np.concatenate([feats["labels"], feats["labels"]])).float()
    src = torch.cat([torch.ones(len(feats["labels"])), torch.full((len(feats["labels"]),), adv_weight)])
    pos = y.mean()
    weight = src * torch.where(y > 0, 0.5 / pos, 0.5 / (1 - pos))
    w = torch.tensor(w0, dtype=torch.float32, requires_grad=True)
    b = torch.tensor(float(b0), requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=iterations, line_search_fn="strong_wolfe")
    w_ref = torch.tensor(w0, dtype=torch.float32)

    def closure():
        opt.zero_grad()
        loss = (weight * torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y, reduction="none")).mean()
        loss = loss + pull * ((w - w_ref) ** 2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    return w.detach().numpy(), float(b.detach())


def clean_aucs(model, heads: dict[str, tuple[np.ndarray, float]]) -> dict:
    """Item-level ROC AUC per set (image: frame probability; video: mean of frame probabilities)."""
    mean, std = model.feature_mean.numpy(), model.feature_std.numpy()
    sets = {"dev videos": ("dev", lambda r: r["kind"] == "video" and r["split"] == "dev"),
            "dev talking heads": ("dev", lambda r: r["split"] == "dev_th"),
            "dev images": ("dev", lambda r: r["kind"] == "image"),
            "dev-wild videos": ("wild", lambda r: True)}
    loaded = {part: load_items(part, crops=False) for part in ("dev", "wild")}
    out = {}
    for name, (part, keep) in sets.items():
        rows = [r for r in loaded[part] if keep(r)]
        y = np.array([int(r["label"] == "fake") for r in rows])
        out[name] = {"n": len(rows)}
        for head, (w, b) in heads.items():
            s = [float((1 / (1 + np.exp(-(((r["feat"] - mean) / std) @ w + b)))).mean()) for r in rows]
            out[name][head] = round(float(roc_auc_score(y, s)), 4) if len(set(y)) == 2 else None
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.evaluation.robust_head", description=__doc__.splitlines()[0])
    parser.add_argument("--eps", type=float, default=4)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--items", type=int, default=100, help="train items attacked (half real, half fake)")
    parser.add_argument("--adv-weight", type=float, default=1.0)
    parser.add_argument("--pull", type=float, default=1e-3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = shipped()
    feats = adversarial_features(model, args.eps / 255, args.steps, args.items)
    w0, b0 = model.frame_head.weight[0].detach().numpy().copy(), float(model.frame_head.bias[0])
    w, b = refit(w0, b0, feats, adv_weight=args.adv_weight, pull=args.pull)
    out = args.out or cache_dir() / "advtrain" / f"robust_eps{int(args.eps)}_s{args.steps}_n{args.items}_w{args.adv_weight}.npz"
    np.savez(out, weight=w.astype(np.float32), bias=np.float32(b))
    summary = {"head": str(out), "train_items": int(len(feats["labels"])),
               "attack_cpu_seconds": round(float(feats["cpu_seconds"]), 1)}
    if args.report:
        summary["clean_auc"] = clean_aucs(model, {"shipped": (w0, b0), "robust": (w, b)})
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
