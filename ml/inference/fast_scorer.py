"""The CLIP detector's encoder in bf16 (PyTorch, oneDNN), for CPUs that multiply bf16 natively.

Same interface as ``ml.inference.backends.TorchScorer``: T x H x W x 3 uint8 crops in, (T frame logits,
clip logit) out, ``cams(rows)`` for the heatmaps. The matrix products of the encoder's blocks run in bf16
(their weights cast once at load, so no call re-casts 57 M parameters); LayerNorms, the residual stream,
the features, the heads and the heatmaps stay fp32. All crops of a face track go through as one batch.
``ml.inference.cpu_features`` decides where this path is taken; ``python -m ml.evaluation.speed_check``
compares its AUCs with fp32's.

``emulate=True`` gives the same numbers at fp32 speed on a CPU without bf16 (for that check): the inputs,
weights and outputs of every matrix product are rounded to bf16 and the products accumulated in fp32,
which is what AVX-512 BF16 and AMX do; a test checks it against the real bf16 path.
"""
from __future__ import annotations

import numpy as np

from ml.inference.backends import normalise, scale_cams, timed


def cast_matmuls(encoder, dtype) -> None:
    """Cast the weights and biases of the encoder's linear layers and patch convolution to ``dtype``."""
    import torch

    for module in encoder.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
            module.to(dtype)


def _round(t):
    import torch

    return t.to(torch.bfloat16).to(t.dtype)


def emulate_bf16(encoder) -> None:
    """Round the encoder's matrix-product weights to bf16 in place and hook their inputs and outputs to
    bf16 rounding: bf16 numbers from fp32 kernels."""
    import torch

    for module in encoder.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
            with torch.no_grad():
                for p in module.parameters():
                    p.copy_(_round(p))
            module.register_forward_pre_hook(lambda m, args: tuple(_round(a) for a in args))
            module.register_forward_hook(lambda m, args, out: _round(out))


class Bf16Scorer:
    precision = "bf16"

    def __init__(self, model, threads: int, *, emulate: bool = False):
        import torch

        if not hasattr(model, "patch_scores"):
            raise ValueError("the bf16 path is for the CLIP detector (a model with per-patch scores)")
        torch.set_num_threads(threads)
        self.torch, self.threads = torch, threads
        self.model, self.emulate = model.eval(), emulate
        del self.model.encoder.blocks[max(self.model.layers):]  # blocks past the last one used never run: free them
        if emulate:
            emulate_bf16(self.model.encoder)
        else:
            cast_matmuls(self.model.encoder, torch.bfloat16)

    def _hidden(self, x):
        torch = self.torch
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not self.emulate):
            hidden = self.model.hidden(x)
        return [h.float() for h in hidden]

    def __call__(self, crops: np.ndarray, timings: dict):
        torch = self.torch
        self._x = torch.from_numpy(normalise(crops))
        with torch.inference_mode():
            with timed(timings, "encoder"):
                self._hidden_states = self._hidden(self._x)
            with timed(timings, "heads"):
                features = self.model.features_from_hidden(self._hidden_states)
                frame_logits = self.model.frame_logits(features)
                clip_logit = self.model.clip_logits(features[None])
        return frame_logits.numpy().astype(np.float64), float(clip_logit[0])

    def cams(self, rows: list[int], timings: dict) -> np.ndarray:
        from ml.models.clip_detector import cams_from_scores

        with timed(timings, "heatmaps"), self.torch.inference_mode():
            maps = cams_from_scores(self.model.patch_scores([h[rows] for h in self._hidden_states]))
            return scale_cams(maps.numpy(), self._x.shape[-1])
