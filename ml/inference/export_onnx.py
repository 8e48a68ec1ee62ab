"""Export the detector to ONNX: ``python -m ml.inference.export_onnx [--checkpoint P] [--out P]``.

One graph: crops (1 x T x 3 x H x W, T dynamic) -> frame_logits (1 x T), clip_logit (1) and cams
(1 x T x h x w: ReLU(sum_k w_k A_k), the Grad-CAM maps of the frame head, see ml/backends.py). The
model card travels in the file's metadata, with the checkpoint's sha256, so a stale export is
noticed. Written with the TorchScript exporter (opset 17) and checked against PyTorch.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from ml.models.checkpoint import load_checkpoint
from ml.paths import DEFAULT_CHECKPOINT, checkpoint_digest, onnx_cache_path


class _Graph(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, crops):
        m = self.model
        if hasattr(m, "patch_scores"):  # the CLIP detector: heatmaps are its head applied to each patch
            from ml.models.clip_detector import cams_from_scores

            hidden = m.hidden(crops[0])
            features = m.features_from_hidden(hidden)
            cams = cams_from_scores(m.patch_scores(hidden))
            return m.frame_logits(features)[None], m.clip_logits(features[None]), cams[None]
        feature_maps = m.backbone(crops[0])  # T x C x h x w
        features = m.pool(feature_maps).flatten(1)
        frame_logits = m.frame_logits(features)
        clip_logit = m.clip_logits(features[None])
        cams = torch.relu(torch.einsum("tchw,c->thw", feature_maps, m.frame_head.weight[0]))
        return frame_logits[None], clip_logit, cams[None]


def export(model, card: dict, out: str | os.PathLike) -> str:
    import onnx

    size = int(card["preprocessing"]["input_size"])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    torch.onnx.export(_Graph(model).eval(), (torch.zeros(1, 8, 3, size, size),), str(tmp), dynamo=False,
                      opset_version=17, input_names=["crops"], output_names=["frame_logits", "clip_logit", "cams"],
                      dynamic_axes={"crops": {1: "frames"}, "frame_logits": {1: "frames"}, "cams": {1: "frames"}})
    model.eval()
    graph = onnx.load(str(tmp))
    graph.metadata_props.add(key="card", value=json.dumps(card))
    onnx.save(graph, str(tmp))
    os.replace(tmp, out)  # atomic: concurrent workers never read a half-written file
    return str(out)


def export_checkpoint(checkpoint: str | os.PathLike, out: str | os.PathLike | None = None) -> str:
    """Export a checkpoint (to ``out``, or to a cache file named by its digest) and return the path."""
    digest = checkpoint_digest(checkpoint)
    if out is None:
        out = onnx_cache_path(checkpoint, digest)
        if out.exists():
            return str(out)
    model, card = load_checkpoint(checkpoint)
    return export(model, {**card, "weights_sha256": digest}, out)


def max_difference(model, onnx_path: str, input_size: int, frames: int = 16, seed: int = 0) -> float:
    """Largest absolute difference between PyTorch and ONNX Runtime logits on random crops."""
    import onnxruntime as ort

    crops = torch.randn(1, frames, 3, input_size, input_size, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        ref = model(crops)
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    frame_logits, clip_logit, _ = session.run(None, {"crops": crops.numpy()})
    return float(max(np.abs(frame_logits - ref["frame_logits"].numpy()).max(),
                     np.abs(clip_logit - ref["clip_logit"].numpy()).max()))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.inference.export_onnx", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--out", default=None, help="default: the checkpoint's path with .onnx")
    parser.add_argument("--cache", action="store_true",
                        help="export into the cache workers load from (DETECTOR_ONNX_CACHE), unless a fresh export exists")
    args = parser.parse_args(argv)
    if args.cache:
        from ml.inference.backends import fresh_onnx_beside

        fresh = fresh_onnx_beside(args.checkpoint)
        print(f"ONNX graph for workers: {fresh or export_checkpoint(args.checkpoint)}")
        return
    out = args.out or str(Path(args.checkpoint).with_suffix(".onnx"))
    path = export_checkpoint(args.checkpoint, out)
    model, card = load_checkpoint(args.checkpoint)
    size = int(card["preprocessing"]["input_size"])
    print(f"wrote {path} (model {card['version']}); max |torch - onnx| = {max_difference(model, path, size):.2e}")


if __name__ == "__main__":
    main()
