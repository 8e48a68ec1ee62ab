"""A PGD-perturbed fake photo, made in the test from a dev fake of the shared data (nothing fetched).

The attack runs on the whole photo through a differentiable copy of the worker's face crop (the same
affine map as ``ml.media.faces.crop_face``, bilinear like ``cv2.warpAffine``), then the shipped detector's
encoder and head; it stops once the crop's calibrated score is well inside "likely authentic". The photo
is written losslessly (PNG), so the worker sees exactly these pixels.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ml.evaluation.attacks import logits_fn
from ml.media.decode import read_image
from ml.media.faces import FaceFinder, align_matrix
from ml import calibration


def crop_grid(matrix: np.ndarray, size: int, height: int, width: int) -> torch.Tensor:
    """grid_sample coordinates of each crop pixel in the photo (align_corners=True: pixel centres)."""
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    src = np.stack([xs.ravel(), ys.ravel(), np.ones(size * size)]) .T @ inverse.T
    gx, gy = src[:, 0] / (width - 1) * 2 - 1, src[:, 1] / (height - 1) * 2 - 1
    return torch.from_numpy(np.stack([gx, gy], -1).reshape(1, size, size, 2).astype(np.float32))


def dev_fakes(data: Path, method_word: str = "StyleGAN2") -> list[Path]:
    with open(data / "dev" / "labels.csv", newline="") as fh:
        return [data / "dev" / r["path"] for r in csv.DictReader(fh)
                if r["label"] == "fake" and r["kind"] == "image" and method_word in r["method"]]


def perturb(photo: np.ndarray, model, card: dict, *, eps: float = 8 / 255, steps: int = 20,
            target: float = 0.2) -> tuple[np.ndarray, float]:
    """(perturbed photo, its crop's calibrated score in torch) after PGD on the photo's pixels."""
    pre = card["preprocessing"]
    size, margin = int(pre["input_size"]), float(pre["margin"])
    faces = [t for t in FaceFinder().track([photo]) if t.faces]
    face = max(faces, key=lambda t: len(t.faces)).faces[0]
    grid = crop_grid(align_matrix(face.landmarks, size, margin), size, *photo.shape[:2])
    fn = logits_fn(model)
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    adv, score = x.clone(), 1.0
    for _ in range(steps):
        adv.requires_grad_(True)
        logit = fn(F.grid_sample(adv, grid, mode="bilinear", padding_mode="zeros", align_corners=True))
        score = float(calibration.calibrate(card, [float(torch.sigmoid(logit).item())], "image")[0])
        if score < target:
            break
        grad, = torch.autograd.grad(logit.sum(), adv)
        adv = adv.detach() - (eps / 4) * grad.sign()
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 1)
    out = (adv.detach()[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return out, score


def png_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def load_photo(path: Path) -> np.ndarray:
    return np.ascontiguousarray(read_image(str(path)))
