"""Two ways to run the network on a face track's crops: PyTorch or ONNX Runtime.

A scorer takes T x H x W x 3 uint8 crops and returns (T frame logits, the clip logit), and
``cams(rows)`` gives Grad-CAM maps (in [0, 1], crop-sized) for some of those crops. The ONNX
backend never imports torch: a worker running it stays small.

Grad-CAM here: the frame head is linear after global average pooling, so the gradient of a frame
logit with respect to the last feature maps is the head's weight divided by the map area, the same
at every position. Grad-CAM's channel weights are therefore the head's weights, and the map is
ReLU(sum_k w_k A_k): the ONNX graph computes it in the forward pass. The PyTorch backend computes it
with hooks and autograd (``ml.inference.gradcam.GradCAM``); a test checks that both agree.
"""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from ml.paths import checkpoint_digest

MEAN, STD = 0.5, 0.5  # the model's input scale; the same as ml.models.builders.MEAN/STD (checked in tests)


def normalise(crops: np.ndarray) -> np.ndarray:
    """T x H x W x 3 uint8 RGB -> T x 3 x H x W float32 in the model's input scale."""
    x = crops.astype(np.float32).transpose(0, 3, 1, 2)
    return (x / 255.0 - MEAN) / STD


def scale_cams(cams: np.ndarray, size: int) -> np.ndarray:
    """Feature-map CAMs (N x h x w, >= 0) -> N x size x size in [0, 1] (bilinear, half-pixel)."""
    out = np.stack([cv2.resize(c.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR) for c in cams])
    peak = np.maximum(out.reshape(len(out), -1).max(axis=1), 1e-8)
    return out / peak[:, None, None]


@contextmanager
def timed(timings: dict, stage: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(timings.get(stage, 0.0) + time.perf_counter() - start, 4)


class TorchScorer:
    def __init__(self, model, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.threads = threads
        self.torch = torch
        self.model = model.eval()

    def __call__(self, crops: np.ndarray, timings: dict):
        torch = self.torch
        self._x = torch.from_numpy(normalise(crops))
        with torch.inference_mode():
            with timed(timings, "cnn"):
                if hasattr(self.model, "features_from_hidden"):  # CLIP: keep the tokens for the heatmaps
                    self._hidden = self.model.hidden(self._x)
                    features = self.model.features_from_hidden(self._hidden)
                else:
                    features = self.model.embed(self._x)
                frame_logits = self.model.frame_logits(features)
            with timed(timings, "lstm"):
                clip_logit = self.model.clip_logits(features[None])
        return frame_logits.numpy().astype(np.float64), float(clip_logit[0])

    def cams(self, rows: list[int], timings: dict) -> np.ndarray:
        from ml.inference.gradcam import GradCAM

        if hasattr(self.model, "patch_scores"):  # the CLIP detector's per-patch head (ml/clip_detector.py)
            from ml.models.clip_detector import cams_from_scores

            with timed(timings, "gradcam"), self.torch.inference_mode():
                maps = cams_from_scores(self.model.patch_scores([h[rows] for h in self._hidden]))
                return scale_cams(maps.numpy(), self._x.shape[-1])
        with timed(timings, "gradcam"), GradCAM(self.model) as cam:
            return cam(self._x[rows])


class OnnxScorer:
    def __init__(self, onnx_path: str, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.card = json.loads(self.session.get_modelmeta().custom_metadata_map["card"])
        self.size = int(self.card["preprocessing"]["input_size"])

    def __call__(self, crops: np.ndarray, timings: dict):
        with timed(timings, "cnn_lstm"):  # one graph: CNN and LSTM are not timed apart
            frame_logits, clip_logit, self._cams = self.session.run(None, {"crops": normalise(crops)[None]})
        return frame_logits[0].astype(np.float64), float(clip_logit[0])

    def cams(self, rows: list[int], timings: dict) -> np.ndarray:
        with timed(timings, "gradcam"):
            return scale_cams(self._cams[0][rows], self.size)


def onnx_card(onnx_path: str | os.PathLike) -> dict:
    """The model card stored in an ONNX export's metadata (by ``ml.inference.export_onnx``)."""
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(onnx_path), load_external_data=False).metadata_props}
    return json.loads(meta["card"])


def fresh_onnx_beside(checkpoint: str | os.PathLike) -> Path | None:
    """The .onnx beside a checkpoint, if it was exported from exactly these weights."""
    onnx_path = Path(checkpoint).with_suffix(".onnx")
    if onnx_path.exists() and onnx_card(onnx_path).get("weights_sha256") == checkpoint_digest(checkpoint):
        return onnx_path
    return None


def read_card(path: str | os.PathLike) -> dict:
    """A model's card without building the model: from the ONNX metadata when a fresh export exists
    (no torch), else from the checkpoint."""
    path = Path(path)
    onnx_path = path if path.suffix == ".onnx" else fresh_onnx_beside(path)
    if onnx_path is not None:
        return onnx_card(onnx_path)
    import torch  # the card only: no network is built (a CLIP model would read its encoder first)

    return torch.load(path, map_location="cpu", weights_only=True)["card"]
