"""Attacks on the detector's whole scoring path, as the worker runs it (crop -> encoder -> head -> clip rule ->
calibration), aimed at an "authentic" verdict:

- ``pgd``: white-box L-infinity PGD on 224 px face crops, from a random start, optionally with EOT (an
  expectation over random transforms each step) and BPDA (non-differentiable steps, JPEG and H.264,
  passed through as the identity on the way back). With the purification defence's transforms it attacks
  ``DETECTOR_PURIFY``; with the tamper check's benign changes it attacks the tamper signal.
- ``square``: the query-limited black-box Square Attack (Andriushchenko et al. 2020, L-infinity), seeing
  only the score the public API returns, rounded as it rounds.

The loss is the sum of frame logits over an item's crops: the clip rule is the mean of the frame
probabilities, so lowering every frame lowers the clip. Pixels are N x 3 x H x W floats in [0, 1].
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ml.inference import tamper
from ml.media import degradations as augment

Logits = "callable: pixels -> N frame logits"


def logits_fn(model, head: torch.nn.Linear | None = None, *, bf16: bool = False):
    """pixels in [0, 1] -> frame logits of the detector (``head``: another frame head on the same features)."""
    linear = head if head is not None else model.frame_head

    def fn(pixels: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            features = model.embed(pixels * 2 - 1)
        return linear(features.float()).squeeze(-1)
    return fn


def to_pixels(crops: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float() / 255


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    return (pixels.detach().permute(0, 2, 3, 1).clamp(0, 1).numpy() * 255).round().astype(np.uint8)


# ------------------------------------------------------------------------- transforms (torch, for EOT)
def straight_through(pixels: torch.Tensor, numpy_fn) -> torch.Tensor:
    """BPDA: the forward pass is ``numpy_fn`` on uint8 crops, the backward pass the identity."""
    out = to_pixels(numpy_fn(to_uint8(pixels)))
    return pixels + (out - pixels).detach()


def t_jpeg(quality: int):
    return lambda x: straight_through(x, lambda c: np.stack([augment.jpeg(v, quality) for v in c]))


def t_resize(factor: float):
    def fn(x):
        h, w = x.shape[-2:]
        small = F.interpolate(x, size=(round(h * factor), round(w * factor)), mode="bilinear", antialias=True,
                              align_corners=False)
        return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    return fn


def t_shift(dx: int, dy: int):
    def fn(x):
        pad = F.pad(x, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)), mode="replicate")
        h, w = x.shape[-2:]
        y0, x0 = max(-dy, 0), max(-dx, 0)
        return pad[..., y0:y0 + h, x0:x0 + w]
    return fn


def t_blur(sigma: float):
    r = torch.arange(-1, 2, dtype=torch.float32)
    k1 = torch.exp(-r ** 2 / (2 * sigma ** 2))
    k = (k1[:, None] * k1[None]) / k1.sum() ** 2
    weight = k.expand(3, 1, 3, 3).contiguous()
    return lambda x: F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), weight, groups=3)


def t_h264(crf: int = 23):
    """The crop sequence re-encoded with libx264 (BPDA): the platform's own re-encoding, on the crops."""
    return lambda x: straight_through(x, lambda c: augment.h264_sequence(c, crf=crf))


def purify_draw(rng: np.random.Generator):
    """One draw of the purification defence (``ml.inference.defences.purify``): resize down and up, JPEG."""
    factor, quality = float(rng.uniform(0.6, 0.9)), int(rng.integers(60, 80))
    down_up, jp = t_resize(factor), t_jpeg(quality)
    return lambda x: jp(down_up(x))


def t_mirror():
    return lambda x: x.flip(-1)


def tamper_draw(rng: np.random.Generator):
    """One of the tamper check's benign changes (``ml.inference.tamper.CHANGES``) or none, drawn around the
    check's own settings: JPEG 65-85, the mirror image, a shift of up to 8 px each way (mirrored or not)."""
    kind = int(rng.integers(0, 4))
    if kind == 0:
        return lambda x: x
    if kind == 1:
        return t_jpeg(int(rng.integers(65, 86)))
    move = t_shift(*(int(v) for v in rng.integers(-8, 9, 2)))
    if kind == 2:
        return move
    return lambda x: move(x.flip(-1))


def tamper_changes():
    """The tamper check's exact changes (``ml.inference.tamper.CHANGES``) as differentiable transforms (BPDA for JPEG)."""
    return [t_jpeg(75), t_mirror(), t_shift(8, 8), t_shift(-8, 0), t_shift(4, 0)]


def tamper_aware_pgd(fn, pixels: torch.Tensor, eps: float, *, steps: int = 5, rise_budget: float = 0.75,
                     weight: float = 2.0, seed: int = 0) -> torch.Tensor:
    """The strongest attacker we built against the tamper check, who knows its changes exactly: lowers the
    mean logit over the crop and its changed copies, and pays ``weight`` x the check's signal (mean rise
    of the changed copies' logits over the crop's) above ``rise_budget``, so the crop reads authentic
    without its score jumping under the changes. One crop at a time (N = 1)."""
    gen = torch.Generator().manual_seed(seed)
    changes = tamper_changes()
    step = 2.5 * eps / steps
    x = (pixels + (torch.rand(pixels.shape, generator=gen) * 2 - 1) * eps).clamp(0, 1)
    for _ in range(steps):
        x.requires_grad_(True)
        z = fn(torch.cat([x] + [t(x) for t in changes]))
        rise = z[1:].mean() - z[0]
        loss = z.mean() + weight * torch.relu(rise - rise_budget)
        grad, = torch.autograd.grad(loss, x)
        x = x.detach() - step * grad.sign()
        x = torch.min(torch.max(x, pixels - eps), pixels + eps).clamp(0, 1)
    return x.detach()


DRAWS = {"none": None, "purify": purify_draw, "tamper": tamper_draw}


# ------------------------------------------------------------------------------------ attacks
def pgd(fn, pixels: torch.Tensor, eps: float, *, steps: int = 8, eot: int = 1, draw=None, final=None,
        seed: int = 0) -> torch.Tensor:
    """L-infinity PGD lowering the sum of frame logits. ``draw(rng)`` gives one random transform per EOT
    sample (None: the plain path); ``final``: a transform always applied last (e.g. H.264, BPDA)."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    step = 2.5 * eps / steps
    x = (pixels + (torch.rand(pixels.shape, generator=gen) * 2 - 1) * eps).clamp(0, 1)
    for _ in range(steps):
        x.requires_grad_(True)
        grad = torch.zeros_like(x)
        for _ in range(eot):
            t = draw(rng) if draw else (lambda v: v)
            y = t(x)
            y = final(y) if final else y
            grad += torch.autograd.grad(fn(y).sum(), x)[0]
        x = x.detach() - step * grad.sign()
        x = torch.min(torch.max(x, pixels - eps), pixels + eps).clamp(0, 1)
    return x.detach()


def quantised(score: np.ndarray, decimals: int | None) -> np.ndarray:
    """The score as the API shows it (``decimals`` None: unrounded)."""
    return score if decimals is None else np.round(score, decimals)


def square(query, pixels: torch.Tensor, eps: float, *, queries: int = 1000, p_init: float = 0.05,
           decimals: int | None = 2, stop_below: float = 0.4, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Square Attack on a batch of single-crop items. ``query(pixels) -> N scores`` (calibrated P(fake), what
    the API reports), seen rounded to ``decimals``. Returns (adversarial pixels, queries used per item;
    ``queries + 1`` where the item never went below ``stop_below``)."""
    rng = np.random.default_rng(seed)
    n, c, h, w = pixels.shape
    # Start: vertical stripes of +-eps (the paper's initialisation).
    stripes = torch.from_numpy(rng.choice([-eps, eps], size=(n, c, 1, w)).astype(np.float32))
    x = (pixels + stripes).clamp(0, 1)
    best = quantised(query(x), decimals)
    used = np.ones(n, int)
    done = best < stop_below
    used[~done] = 1
    for i in range(1, queries):
        if done.all():
            break
        frac = p_init * (0.5 ** sum(i > k for k in (10, 50, 200, 500, 1000, 2000)))
        side = max(1, int(round(np.sqrt(frac * h * w))))
        cand = x.clone()
        for j in np.flatnonzero(~done):
            r, s = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            patch = torch.from_numpy(rng.choice([-eps, eps], size=(c, 1, 1)).astype(np.float32))
            cand[j, :, r:r + side, s:s + side] = (pixels[j, :, r:r + side, s:s + side] + patch).clamp(0, 1)
        todo = np.flatnonzero(~done)
        scores = quantised(query(cand[todo]), decimals)
        used[todo] += 1
        better = scores < best[todo]
        take = todo[better]
        x[take] = cand[take]
        best[take] = scores[better]
        done = best < stop_below
    used[~done] = queries + 1
    return x, used


def benign_changes_np(crops: np.ndarray) -> dict[str, np.ndarray]:
    """The tamper check's changes on uint8 crops (for tests and reports)."""
    return {name: np.stack([f(c) for c in crops]) for name, f in tamper.CHANGES.items()}
