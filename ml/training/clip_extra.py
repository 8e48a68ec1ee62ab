"""Extra training items made from cached crops, cached like real ones: ``python -m ml.training.clip_extra sbi|degrade``.

- ``sbi``: self-blended pseudo-fakes (SBI). From real crops of the *train* split only, ``per_item`` frames
  each: the 68 landmarks are found again on the crop (its central square holds the face: margin 1.5), a
  self-blended copy is made with ``ml.training.pseudofakes.self_blend`` and a light chain of the project's
  degradations applied. Added as fakes of method ``sbi``.
- ``val_crf35``: the validation videos' crops re-encoded at CRF 35 (condition ``h264_crf35``, split
  ``val``), so a recipe's robustness to compression can be judged on validation, never on dev.
- ``degrade``: compression and resizing on both classes. Every *train*-split video's crops are
  re-encoded as a sequence with libx264 at a random CRF in [28, 40], half of them after downscaling to
  half size and back; added with their own label and method, condition ``degraded``.

Each new item is encoded by the same CLIP graph and appended to the manifest in the train split, so
``ml.training.clip_train``'s recipes can take it or leave it (``pseudo_fakes``, ``degraded``). Resumable: a
source already done is skipped.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from ml.training.clip_features import EncoderRunner, SIZE, cache_root, entry_key, load_manifest


def landmarks_on_crop(finder, crop: np.ndarray) -> np.ndarray:
    lo, hi = round(SIZE / 6), round(5 * SIZE / 6)
    return finder.landmarks(crop, (lo, lo, hi, hi))


def self_blends(crops, rng, finder, per_item: int):
    from ml.media import degradations
    from ml.training import pseudofakes

    picks = rng.choice(len(crops), min(per_item, len(crops)), replace=False)
    fakes = []
    for k in picks:
        fake, _ = pseudofakes.self_blend(crops[k], landmarks_on_crop(finder, crops[k]), rng)
        fakes.append(degradations.Degradation.draw(rng, 0.5).apply(fake))
    return np.stack(fakes).astype(np.uint8), picks


def degraded(crops, rng):
    from ml.media import degradations

    x = crops
    if rng.random() < 0.5:
        x = np.stack([degradations.resize(c, 0.5) for c in x])
    return degradations.h264_sequence(x, crf=int(rng.integers(28, 41))), np.arange(len(crops))


def main(argv=None) -> None:
    from ml.media.faces import FaceFinder

    parser = argparse.ArgumentParser(prog="python -m ml.training.clip_extra", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["sbi", "degrade", "val_crf35"])
    parser.add_argument("--per-item", type=int, default=2, help="sbi: pseudo-fakes per real item")
    parser.add_argument("--max-items", type=int, default=400, help="sbi: real items used")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    manifest = load_manifest()
    done = {r["path"] for r in manifest if r["root"] == args.kind}
    base = [r for r in manifest if r["status"] == "ok" and r["split"] == ("val" if args.kind == "val_crf35" else "train")
            and r["root"] == "train" and r["condition"] == "clean"]
    if args.kind == "sbi":
        sources = [r for r in base if r["label"] == "real"]
        rng = np.random.default_rng(args.seed)
        sources = [sources[i] for i in rng.permutation(len(sources))[: args.max_items]]
    else:
        sources = [r for r in base if r["kind"] == "video"]
    todo = [r for r in sources if f"{args.kind}/{r['path']}" not in done]
    print(f"{args.kind}: {len(sources)} sources, {len(todo)} to do", flush=True)
    runner, finder = EncoderRunner(), FaceFinder()
    started = time.time()
    with open(cache_root() / "manifest.jsonl", "a") as out:
        for n, src in enumerate(todo, 1):
            with np.load(cache_root() / "items" / f"{src['key']}.npz") as z:
                crops, frames = z["crops"], z["frames"]
            rng = np.random.default_rng([args.seed, n, len(args.kind)])
            if args.kind == "sbi":
                made, picks = self_blends(crops, rng, finder, args.per_item)
            elif args.kind == "degrade":
                made, picks = degraded(crops, rng)
            else:
                from ml.media import degradations

                made, picks = degradations.h264_sequence(crops, crf=35), np.arange(len(crops))
            feats = runner(made)
            feats.pop("tokens")
            row = {"root": args.kind, "path": f"{args.kind}/{src['path']}", "kind": src["kind"], "group": src["group"],
                   "split": src["split"], "frames": len(made), "status": "ok", "n": len(made)}
            if args.kind == "sbi":
                row |= {"label": "fake", "method": "sbi", "condition": "clean"}
            else:
                row |= {"label": src["label"], "method": src["method"],
                        "condition": "degraded" if args.kind == "degrade" else "h264_crf35"}
            row["key"] = entry_key(src["key"], len(made), args.kind, runner.version)
            np.savez(cache_root() / "items" / f"{row['key']}.npz", crops=made, frames=frames[picks], **feats)
            out.write(json.dumps(row) + "\n")
            out.flush()
            if n % 25 == 0 or n == len(todo):
                print(f"[{n}/{len(todo)}] {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
