"""Grad-CAM (Selvaraju et al., 2017) on the CNN's last convolutional stage.

``GradCAM`` is a context manager: its hooks exist only inside the ``with`` block, so a long-lived
worker never accumulates them.

    with GradCAM(model) as cam:
        maps = cam(crops)        # N x H x W in [0, 1], one map per crop, for the "fake" logit
"""
from __future__ import annotations

import cv2
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


def overlay(frame_rgb: np.ndarray, cam: np.ndarray, matrix: np.ndarray, box, *,
            max_side: int = 640, alpha: float = 0.45) -> tuple[np.ndarray, np.ndarray]:
    """Place a crop's CAM back on its frame. Returns (frame with overlay, plain frame), both RGB,
    scaled so the long side is at most ``max_side``; the face box is outlined on both."""
    h, w = frame_rgb.shape[:2]
    inverse = cv2.invertAffineTransform(matrix)
    cam_full = cv2.warpAffine(cam.astype(np.float32), inverse, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inside = cv2.warpAffine(np.ones_like(cam, dtype=np.float32), inverse, (w, h)) > 0.5
    colour = cv2.applyColorMap((cam_full * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    blended = frame_rgb.astype(np.float32)
    weight = (alpha * inside)[..., None]
    blended = (blended * (1 - weight) + colour.astype(np.float32) * weight).astype(np.uint8)
    scale = min(1.0, max_side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    out = []
    for img in (blended, frame_rgb):
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA) if scale < 1 else img.copy()
        x0, y0, x1, y1 = (int(round(v * scale)) for v in box)
        cv2.rectangle(img, (x0, y0), (x1, y1), (255, 255, 255), max(1, round(2 * scale + 0.5)))
        out.append(img)
    return out[0], out[1]
