"""The attack suite: ``python -m ml.evaluation.attack_suite [--crops 16] [--clips 4] [--head H] [--table]``.

Attacks dev fakes (the crop cache of ``ml.evaluation.adv_cache``, part ``dev``) that the shipped detector does
not already call "likely authentic", through the whole scoring path, and prints one table: for each attack
and epsilon (1, 2, 4, 8 / 255), the share of attacked fakes that end "likely authentic" under the portal's
verdict rule (calibrated score below threshold - band), **before** (the detector alone) and **after** the
defences (the tamper check of ``ml.inference.tamper``: where it fires the verdict is "inconclusive: may
have been altered" and a moderator reviews it, so that is not a success).

- ``pgd``: white-box PGD (``--steps``), stopping once the item is "likely authentic" (what an attacker who
  reads the verdict would do); ``pgd_eot_tamper``: adaptive, EOT over the tamper check's benign changes
  (BPDA through JPEG), no early stop; ``pgd_tamper_aware``: knows the check's exact changes and pays for
  its signal in the loss (``attacks.tamper_aware_pgd``); ``pgd_eot_purify``: adaptive against ``DETECTOR_PURIFY`` (EOT + BPDA),
  scored with purification on.
- clips (6 frames, clip rule = mean of frame probabilities): ``clip_pgd`` and ``clip_pgd_h264`` (BPDA through
  H.264 CRF 23 of the crop sequence, then scored after a real CRF 23 encode).
- ``transfer``: PGD on a surrogate (ImageNet EfficientNet-Lite0 + a logistic head fitted on the cached train
  crops), scored on the detector. ``square``: black-box Square Attack through the API's score, at the API's
  rounding and unrounded, within ``--queries``.

Every crop is scored as a one-photo upload (image calibration), clips as videos. Final scores come from the
serving ONNX graph (what the worker runs); gradients from the PyTorch model (fp32). Results are cached per
item in ``$ADV_CACHE/attacks/<head>.jsonl``: a rerun resumes, ``--table`` only prints.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ml.evaluation import attacks as A
from ml.evaluation.adv_cache import cache_dir, load_items
from ml.evaluation.tamper_calibrate import BAND, item_score, onnx_logits, spread
from ml.inference import tamper
from ml.inference.defences import purify
from ml.media import degradations as augment

EPSILONS = (1, 2, 4, 8)


def pick(items: list[dict], n: int, *, videos: bool) -> list[dict]:
    """Up to ``n`` fakes of one kind (clips with at least 4 cached frames), round-robin over methods."""
    pool = [it for it in items if it["label"] == "fake" and (it["kind"] == "video") == videos
            and (not videos or it["n"] >= 4)]
    return spread(pool, n)


class Judge:
    """The portal's verdict on (attacked) crops, through the serving graph, with and without the tamper check."""

    def __init__(self, head: tuple[np.ndarray, float] | None = None):
        self.score, self.card = onnx_logits()
        self.threshold = float(self.card["threshold"])
        self.check = tamper.TamperCheck.for_model(self.card["version"])
        if head is not None:  # a robust head: torch features, the given linear head (the ONNX graph has v4's)
            self.score = head_scorer(*head)
        if self.check is None:
            raise SystemExit("no tamper threshold for this model: run ml.evaluation.tamper_calibrate --write first")

    def __call__(self, crops: np.ndarray, kind: str, *, purified: bool = False) -> dict:
        if purified:
            crops = purify(crops, np.random.default_rng(0))
        logits = np.asarray(self.score(crops), float)
        s = item_score(self.card, kind, logits)
        authentic = s < self.threshold - BAND
        checked = s < self.threshold + BAND
        t = self.check.check(self.score, crops, logits) if checked else None
        return {"score": round(s, 4), "authentic": bool(authentic), "tamper": t and t["rise"],
                "fired": bool(t and t["fired"]), "success_after": bool(authentic and not (t and t["fired"]))}


_model = None


def model():
    global _model
    if _model is None:
        from ml.paths import DEFAULT_CHECKPOINT
        from ml.models.checkpoint import load_checkpoint

        _model = load_checkpoint(DEFAULT_CHECKPOINT)[0].eval().requires_grad_(False)
    return _model


def head_scorer(weight: np.ndarray, bias: float):
    m = model()
    lin = torch.nn.Linear(len(weight), 1)
    lin.weight.data[:] = torch.from_numpy(weight)[None]
    lin.bias.data[:] = bias
    fn = A.logits_fn(m, lin)

    def score(crops):
        with torch.no_grad():
            return fn(A.to_pixels(crops)).numpy()
    return score


def run_pgd(fn, judge, crops: np.ndarray, kind: str, eps: float, *, steps: int, variant: str, seed: int) -> dict:
    x = A.to_pixels(crops)
    card, thr = judge.card, judge.threshold
    if variant in ("pgd", "clip_pgd"):
        adv = x
        for k in range(steps):  # one step at a time from the last point, stopping once "likely authentic"
            adv = A.pgd(fn, x, eps, steps=1, seed=seed + k) if k == 0 else _step(fn, x, adv, eps, steps)
            with torch.no_grad():
                if item_score(card, kind, fn(adv).numpy().astype(float)) < thr - BAND - 0.05:
                    break
    elif variant == "clip_pgd_h264":
        adv = A.pgd(fn, x, eps, steps=steps, final=A.t_h264(23), seed=seed)
    elif variant == "pgd_tamper_aware":
        adv = A.tamper_aware_pgd(fn, x, eps, steps=steps, rise_budget=0.5 * judge.check.threshold, seed=seed)
    else:
        draw = A.tamper_draw if variant == "pgd_eot_tamper" else A.purify_draw
        adv = A.pgd(fn, x, eps, steps=steps, eot=2, draw=draw, seed=seed)
    out = A.to_uint8(adv)
    if variant == "clip_pgd_h264":
        out = augment.h264_sequence(out, crf=23)
    return judge(out, kind, purified=variant == "pgd_eot_purify")


def _step(fn, x, adv, eps, steps):
    adv = adv.clone().requires_grad_(True)
    grad, = torch.autograd.grad(fn(adv).sum(), adv)
    adv = adv.detach() - 2.5 * eps / steps * grad.sign()
    return torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 1)


def middle(it: dict) -> np.ndarray:
    return it["crops"][len(it["crops"]) // 2][None]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.evaluation.attack_suite", description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=16)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--attacks", default="pgd,pgd_eot_tamper,clip_pgd,clip_pgd_h264,transfer,square")
    parser.add_argument("--eps", default="1,2,4,8")
    parser.add_argument("--adaptive-eps", default="2,4", help="epsilons of the EOT attacks and the clip attacks")
    parser.add_argument("--adaptive-n", type=int, default=6, help="crops for the tamper-aware attack (6 passes a step)")
    parser.add_argument("--clip-eps", default="2,4", help="epsilons of the clip attacks")
    parser.add_argument("--h264-eps", default="4", help="epsilons of the H.264 clip attack")
    parser.add_argument("--transfer-eps", default="4,8")
    parser.add_argument("--square-eps", type=int, default=8)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--square-modes", default="api,unrounded", help="api (rounded as the API rounds), unrounded")
    parser.add_argument("--square-n", type=int, default=4)
    parser.add_argument("--head", type=Path, default=None, help="a robust head (.npz: weight, bias) to attack instead")
    parser.add_argument("--table", action="store_true", help="only print the table from the cached results")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    name = args.head.stem if args.head else "shipped"
    out_path = cache_dir() / "attacks" / f"{name}.jsonl"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(l) for l in out_path.read_text().splitlines()] if out_path.exists() else []
    if not args.table:
        rows = attack_all(args, rows, out_path)
    from ml.evaluation.attack_table import markdown

    cal = tamper.load_calibration(_shipped_version())
    print(markdown(rows, name, cal["threshold"] if cal else None))


def attack_all(args, rows, out_path):
    from ml.evaluation import attack_extra

    done = {(r["attack"], r["eps"], r["path"]) for r in rows}
    head = None
    if args.head:
        z = np.load(args.head)
        head = (z["weight"], float(z["bias"]))
    judge = Judge(head)
    items = load_items("dev")
    crops, clips = pick(items, 10 ** 6, videos=False), pick(items, 10 ** 6, videos=True)
    crops += pick(items, 10 ** 6, videos=True)  # one crop of each video too: more sources
    fn = A.logits_fn(model(), None if head is None else _linear(head))
    log = open(out_path, "a")

    def record(row):
        rows.append(row)
        log.write(json.dumps(row) + "\n")
        log.flush()
        print(json.dumps(row), flush=True)

    def eligible(pool, n, kind_of):
        out = []
        for it in pool:
            if len(out) >= n:
                break
            key = ("clean", 0, it["path"])
            if key not in done:
                c = middle(it) if kind_of == "image" else it["crops"]
                record({"attack": "clean", "eps": 0, "path": it["path"], "method": it["method"], "set": kind_of}
                       | judge(c, kind_of))
                done.add(key)
            clean = next(r for r in rows if (r["attack"], r["eps"], r["path"]) == key)
            if not clean["authentic"]:
                out.append(it)
        return out

    attack_set = eligible(crops, args.crops, "image")
    clip_set = eligible(clips, args.clips, "video")
    wanted = args.attacks.split(",")
    eps_all = [int(e) for e in args.eps.split(",")]
    eps_adaptive = [int(e) for e in args.adaptive_eps.split(",")]
    for variant in ("pgd", "pgd_eot_tamper", "pgd_tamper_aware", "pgd_eot_purify", "clip_pgd", "clip_pgd_h264"):
        if variant not in wanted:
            continue
        clip = variant.startswith("clip")
        eps_list = {"pgd": eps_all, "clip_pgd": args.clip_eps, "clip_pgd_h264": args.h264_eps}.get(variant, eps_adaptive)
        for eps in ([int(e) for e in eps_list.split(",")] if isinstance(eps_list, str) else eps_list):
            for i, it in enumerate((clip_set if clip else attack_set)[:args.adaptive_n if variant == "pgd_tamper_aware" else None]):
                if (variant, eps, it["path"]) in done:
                    continue
                start = time.time()
                res = run_pgd(fn, judge, it["crops"] if clip else middle(it), "video" if clip else "image",
                              eps / 255, steps=args.steps, variant=variant, seed=i)
                record({"attack": variant, "eps": eps, "path": it["path"], "method": it["method"],
                        "seconds": round(time.time() - start, 1)} | res)
    if "transfer" in wanted:
        attack_extra.transfer(judge, attack_set, [int(e) for e in args.transfer_eps.split(",")], done, record)
    if "square" in wanted:
        attack_extra.square_runs(judge, attack_set[:args.square_n], args.queries, done, record, eps=args.square_eps,
                                 modes=tuple(args.square_modes.split(",")))
    return rows


def _shipped_version() -> str:
    from ml.inference.backends import read_card
    from ml.paths import DEFAULT_CHECKPOINT

    return read_card(DEFAULT_CHECKPOINT)["version"]


def _linear(head):
    lin = torch.nn.Linear(len(head[0]), 1)
    lin.weight.data[:] = torch.from_numpy(head[0])[None]
    lin.bias.data[:] = head[1]
    return lin


if __name__ == "__main__":
    main()
