"""Grad-CAM (Selvaraju et al., 2017) on the CNN's last convolutional stage.

``GradCAM`` is a context manager: its hooks exist only inside the ``with`` block, so a long-lived
worker never accumulates them.

    with GradCAM(model) as cam:
        maps = cam(crops)        # N x H x W in [0, 1], one map per crop, for the "fake" logit
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class GradCAM:
    def __init__(self, model):
        self.model = model
        self.layer = model.backbone.target_layer
        self._handles = []
        self._activations = None

    def __enter__(self):
        self._handles.append(self.layer.register_forward_hook(self._keep))
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._activations = None
        return False

    def _keep(self, _module, _inputs, output):
        self._activations = output

    def __call__(self, crops: torch.Tensor) -> np.ndarray:
        if not self._handles:
            raise RuntimeError("use GradCAM inside a with block")
        with torch.enable_grad():
            x = crops.detach().requires_grad_(False)
            logits = self.model.frame_logits(self.model.pool(self.model.backbone(x)).flatten(1))
            acts = self._activations
            # eval mode: each crop's gradient is its own; no parameter gradients are kept
            grads = torch.autograd.grad(logits.sum(), acts)[0]
            weights = grads.mean(dim=(2, 3), keepdim=True)
            cam = F.relu((weights * acts).sum(dim=1, keepdim=True))
            cam = F.interpolate(cam, size=crops.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        self._activations = None
        cam = cam.detach()
        peak = cam.flatten(1).max(dim=1).values.clamp_min(1e-8)[:, None, None]
        return (cam / peak).numpy()
