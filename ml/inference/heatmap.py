"""Draw a face's class-activation map back onto its video frame (no torch here)."""
from __future__ import annotations

import cv2
import numpy as np


def overlay(frame_rgb: np.ndarray, cam: np.ndarray, matrix: np.ndarray, box, *,
            max_side: int = 640, alpha: float = 0.45) -> tuple[np.ndarray, np.ndarray]:
    """Place a crop's CAM back on its frame. Returns (frame with overlay, plain frame), both RGB,
    scaled so the long side is at most ``max_side``; the face box is outlined on both.

    ``matrix`` maps frame pixels to crop pixels (from ``crop_face``); the frame is scaled down first
    and the CAM warped straight into the small frame, so no full-size float image is ever made.
    """
    h, w = frame_rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    plain = cv2.resize(frame_rgb, size, interpolation=cv2.INTER_AREA) if scale < 1 else frame_rgb.copy()
    crop_to_small = cv2.invertAffineTransform(matrix) * scale
    warped = cv2.warpAffine(cam.astype(np.float32), crop_to_small, size, flags=cv2.INTER_LINEAR)
    inside = cv2.warpAffine(np.ones(cam.shape, np.uint8), crop_to_small, size, flags=cv2.INTER_NEAREST) > 0
    colour = cv2.applyColorMap((warped * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    heat = plain.copy()
    heat[inside] = cv2.addWeighted(plain, 1 - alpha, colour, alpha, 0)[inside]
    x0, y0, x1, y1 = (int(round(v * scale)) for v in box)
    thickness = max(1, round(2 * scale + 0.5))
    for img in (heat, plain):
        cv2.rectangle(img, (x0, y0), (x1, y1), (255, 255, 255), thickness)
    return heat, plain
