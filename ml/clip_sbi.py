"""Self-blended pseudo-fakes (SBI) for the CLIP detector, cached like real items: ``python -m ml.clip_sbi``.

From real crops of the *train* split only (``ml.clip_features``' cache), ``per_item`` frames each: the
68 landmarks are found again on the crop (the crop's central square holds the face: margin 1.5), a
self-blended copy is made with ``ml.pseudofakes.self_blend`` and the project's degradations are applied
to it (the same chain is applied to nothing else: the real crops are the pool's compact copies
already). Each pseudo-fake is encoded and added to the manifest as a fake of method ``sbi`` in the
train split, so ``ml.clip_train``'s recipes can take them or leave them (``pseudo_fakes``).
Resumable: a source already done is skipped.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from .clip_features import EncoderRunner, SIZE, cache_root, entry_key, load_features, load_manifest


def landmarks_on_crop(finder, crop: np.ndarray) -> np.ndarray:
    lo, hi = round(SIZE / 6), round(5 * SIZE / 6)
    return finder.landmarks(crop, (lo, lo, hi, hi))


def main(argv=None) -> None:
    from . import augment, pseudofakes
    from .faces import FaceFinder

    parser = argparse.ArgumentParser(prog="python -m ml.clip_sbi", description=__doc__.splitlines()[0])
    parser.add_argument("--per-item", type=int, default=2)
    parser.add_argument("--max-items", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    manifest = load_manifest()
    done = {r["path"] for r in manifest if r["root"] == "sbi"}
    sources = [r for r in manifest if r["status"] == "ok" and r["split"] == "train" and r["label"] == "real"
               and r["root"] == "train" and r["condition"] == "clean"]
    rng = np.random.default_rng(args.seed)
    sources = [sources[i] for i in rng.permutation(len(sources))[: args.max_items]]
    todo = [r for r in sources if f"sbi/{r['path']}" not in done]
    print(f"sbi: {len(sources)} real sources, {len(todo)} to do", flush=True)
    runner, finder = EncoderRunner(), FaceFinder()
    started = time.time()
    with open(cache_root() / "manifest.jsonl", "a") as out:
        for n, src in enumerate(todo, 1):
            item = load_features([src])[0]
            with np.load(cache_root() / "items" / f"{src['key']}.npz") as z:
                crops = z["crops"]
            r = np.random.default_rng([args.seed, n])
            picks = r.choice(len(crops), min(args.per_item, len(crops)), replace=False)
            fakes = []
            for k in picks:
                pts = landmarks_on_crop(finder, crops[k])
                fake, _ = pseudofakes.self_blend(crops[k], pts, r)
                fakes.append(augment.Degradation.draw(r, 0.5).apply(fake))
            fakes = np.stack(fakes).astype(np.uint8)
            feats = runner(fakes)
            feats.pop("tokens")
            row = {"root": "sbi", "path": f"sbi/{src['path']}", "label": "fake", "kind": src["kind"], "method": "sbi",
                   "group": src["group"], "split": "train", "condition": "clean", "frames": len(fakes), "status": "ok"}
            row["key"] = entry_key(type("E", (), {"frames": len(fakes), "condition": "sbi"})(), src["key"], runner.version)
            row["n"] = len(fakes)
            np.savez(cache_root() / "items" / f"{row['key']}.npz", crops=fakes, frames=item["frames"][picks], **feats)
            out.write(json.dumps(row) + "\n")
            out.flush()
            if n % 25 == 0 or n == len(todo):
                print(f"[{n}/{len(todo)}] {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
