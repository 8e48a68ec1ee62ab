"""Attack the detector and measure it: ``python -m ml.evaluation.attack [--checkpoint P] [--n 400] [--out-dir D]``.

White-box FGSM and PGD (L-infinity, 10 steps) on face crops of fakes from the own test split, aiming
at "real" (lowering the fake logit); a transfer attack crafted on a separately trained surrogate
(``--surrogate CKPT``); and cheap evasions (re-compression, resizing, blur, noise, colour shift).
For each: the attack success rate (fakes detected when clean that the attack turns "real") and the
ROC AUC with real crops left clean. ``--purify`` also scores every input after the purification
defence (random resize and JPEG re-compression) to show the clean-versus-robust trade-off.
Writes ``attack.json`` and ``attack.md``. Frame level: the CNN's per-crop score.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from ml.training import data as D
from ml.models.checkpoint import load_checkpoint
from ml.media.degradations import blur, jpeg, noise, resize
from ml.inference.defences import purify
from ml.metrics import roc_auc
from ml.paths import DEFAULT_CHECKPOINT

EPSILONS = (1, 2, 4, 8)  # in 1/255 pixel steps


def fake_logits(model, pixels: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W pixels in [0, 1] -> N frame logits."""
    return model.frame_logits(model.embed((pixels - 0.5) / 0.5))


def fgsm(model, pixels: torch.Tensor, eps: float) -> torch.Tensor:
    x = pixels.clone().requires_grad_(True)
    grad, = torch.autograd.grad(fake_logits(model, x).sum(), x)
    return (pixels - eps * grad.sign()).clamp(0, 1).detach()


def pgd(model, pixels: torch.Tensor, eps: float, steps: int = 10, seed: int = 0) -> torch.Tensor:
    """Projected gradient descent on the fake logit from a random start in the eps-ball."""
    g = torch.Generator().manual_seed(seed)
    step = 2.5 * eps / steps
    x = (pixels + (torch.rand(pixels.shape, generator=g) * 2 - 1) * eps).clamp(0, 1)
    for _ in range(steps):
        x.requires_grad_(True)
        grad, = torch.autograd.grad(fake_logits(model, x).sum(), x)
        x = x.detach() - step * grad.sign()
        x = torch.min(torch.max(x, pixels - eps), pixels + eps).clamp(0, 1)
    return x.detach()


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    return (pixels.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)


def to_pixels(crops: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255


EVASIONS = {  # each maps N x H x W x 3 uint8 fakes to the same
    "jpeg_q50": lambda c, rng: np.stack([jpeg(x, 50) for x in c]),
    "resize_0.5": lambda c, rng: np.stack([resize(x, 0.5) for x in c]),
    "blur_sigma1.5": lambda c, rng: np.stack([blur(x, 1.5) for x in c]),
    "noise_sigma8": lambda c, rng: np.stack([noise(x, 8, rng) for x in c]),
    "colour_shift": lambda c, rng: np.clip(c.astype(np.int16) + np.array([12, -8, 10]), 0, 255).astype(np.uint8),
}


def score(model, crops: np.ndarray, *, purified: bool = False, seed: int = 0) -> np.ndarray:
    if purified:
        crops = purify(crops, np.random.default_rng(seed))
    with torch.no_grad():
        return torch.sigmoid(fake_logits(model, to_pixels(crops))).numpy()


def summarise(real_scores, fake_clean, fake_attacked, threshold) -> dict:
    detected = fake_clean >= threshold
    flipped = detected & (fake_attacked < threshold)
    y = np.r_[np.zeros(len(real_scores)), np.ones(len(fake_attacked))]
    return {"success_rate": round(float(flipped.sum() / max(detected.sum(), 1)), 4),
            "detected_clean": int(detected.sum()),
            "auc": round(roc_auc(y, np.r_[real_scores, fake_attacked]), 4)}


def run(model, card: dict, crops: np.ndarray, labels: np.ndarray, *, surrogate=None, purified: bool = False,
        seed: int = 0) -> dict:
    threshold = float(card["threshold"])
    real, fake = crops[labels == 0], crops[labels == 1]
    real_scores, fake_clean = score(model, real, purified=purified), score(model, fake, purified=purified)
    y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    table = {"clean": {"success_rate": 0.0, "detected_clean": int((fake_clean >= threshold).sum()),
                       "auc": round(roc_auc(y, np.r_[real_scores, fake_clean]), 4)}}
    pixels = to_pixels(fake)
    for eps in EPSILONS:
        for name, attack in (("fgsm", fgsm), ("pgd10", pgd)):
            adv = to_uint8(attack(model, pixels, eps / 255))
            table[f"{name}_eps{eps}"] = summarise(real_scores, fake_clean, score(model, adv, purified=purified), threshold)
        if surrogate is not None:
            adv = to_uint8(pgd(surrogate, pixels, eps / 255))
            table[f"transfer_pgd10_eps{eps}"] = summarise(real_scores, fake_clean,
                                                          score(model, adv, purified=purified), threshold)
    rng = np.random.default_rng(seed)
    for name, evasion in EVASIONS.items():
        table[name] = summarise(real_scores, fake_clean, score(model, evasion(fake, rng), purified=purified), threshold)
    return table


def markdown(report: dict) -> str:
    lines = [f"# Attacks on `{report['model_version']}`", "",
             f"{report['n_real']} real and {report['n_fake']} fake crops of the own test split (held-out identities); "
             f"threshold {report['threshold']}. Success rate: share of fakes detected when clean that the attack "
             "turns \"real\". AUC: real crops clean against attacked fakes.", "",
             "| attack | success rate | AUC | success (purified) | AUC (purified) |", "|---|---|---|---|---|"]
    plain, pure = report["results"], report.get("purified") or {}
    for name, row in plain.items():
        p = pure.get(name, {})
        lines.append(f"| {name} | {row['success_rate']:.2f} | {row['auc']:.3f} | "
                     f"{p.get('success_rate', float('nan')):.2f} | {p.get('auc', float('nan')):.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.evaluation.attack", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--surrogate", type=Path, default=None, help="a separately trained checkpoint")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--n", type=int, default=400, help="crops (half real, half fake)")
    parser.add_argument("--purify", action="store_true", help="also score through the purification defence")
    parser.add_argument("--out-dir", type=Path, default=Path("runs/attack"))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    model, card = load_checkpoint(args.checkpoint)
    cfg = card.get("config", {})
    bank = D.CropBank.load(args.cache, "test", seed=cfg.get("seed", 0),
                           fractions=tuple(cfg.get("split_fractions", (0.7, 0.15, 0.15))))
    crops, labels, _ = D.fixed_frames(bank, args.n, int(card["preprocessing"]["input_size"]), seed=11)
    surrogate = load_checkpoint(args.surrogate)[0] if args.surrogate else None
    report = {"model_version": card["version"], "threshold": card["threshold"], "n_real": int((labels == 0).sum()),
              "n_fake": int((labels == 1).sum()), "epsilons_over_255": list(EPSILONS), "pgd_steps": 10,
              "surrogate": load_checkpoint(args.surrogate)[1]["version"] if args.surrogate else None,
              "results": run(model, card, crops, labels, surrogate=surrogate)}
    if args.purify:
        report["purified"] = run(model, card, crops, labels, surrogate=surrogate, purified=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "attack.json").write_text(json.dumps(report, indent=2))
    (args.out_dir / "attack.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
