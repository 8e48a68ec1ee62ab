"""Export the detector to ONNX: ``python -m ml.export_onnx [--checkpoint P] [--out P]``.

One graph: crops (1 x T x 3 x H x W, T dynamic) -> frame_logits (1 x T), clip_logit (1). Exported
with the TorchScript exporter (opset 17), then checked against PyTorch on random crops.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from .checkpoint import DEFAULT_PATH, load_checkpoint

CACHE_DIR = Path(os.environ.get("DETECTOR_ONNX_CACHE", Path(tempfile.gettempdir()) / "deepfake-portal-onnx"))


class _Graph(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, crops):
        out = self.model(crops)
        return out["frame_logits"], out["clip_logit"]


def export(model, input_size: int, out: str | os.PathLike | None = None, *, cache_key: str = "") -> str:
    """Write the ONNX graph (to ``out``, or to a cache file keyed by the weights) and return its path."""
    if out is None:
        digest = hashlib.sha256(cache_key.encode() + str(input_size).encode())
        for tensor in model.state_dict().values():
            digest.update(tensor.detach().cpu().numpy().tobytes())
        out = CACHE_DIR / f"detector-{digest.hexdigest()[:16]}.onnx"
        if out.exists():
            return str(out)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, 8, 3, input_size, input_size)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    torch.onnx.export(_Graph(model).eval(), (example,), str(tmp), dynamo=False, opset_version=17,
                      input_names=["crops"], output_names=["frame_logits", "clip_logit"],
                      dynamic_axes={"crops": {1: "frames"}, "frame_logits": {1: "frames"}})
    os.replace(tmp, out)  # atomic: concurrent workers never read a half-written file
    return str(out)


def max_difference(model, onnx_path: str, input_size: int, frames: int = 16, seed: int = 0) -> float:
    """Largest absolute difference between PyTorch and ONNX Runtime logits on random crops."""
    import onnxruntime as ort

    crops = torch.randn(1, frames, 3, input_size, input_size, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        ref = model(crops)
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    frame_logits, clip_logit = session.run(None, {"crops": crops.numpy()})
    return float(max(np.abs(frame_logits - ref["frame_logits"].numpy()).max(),
                     np.abs(clip_logit - ref["clip_logit"].numpy()).max()))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.export_onnx", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_PATH))
    parser.add_argument("--out", default="detector.onnx")
    args = parser.parse_args(argv)
    model, card = load_checkpoint(args.checkpoint)
    size = int(card["preprocessing"]["input_size"])
    path = export(model, size, args.out)
    print(f"wrote {path} (model {card['version']}); max |torch - onnx| = {max_difference(model, path, size):.2e}")


if __name__ == "__main__":
    main()
