"""Pseudo-fakes made from real face crops: self-blended images, face swaps, temporal variants.

Every generator takes an aligned crop (H x W x 3 uint8 RGB, as ``faces.crop_face`` makes it) with its
68 landmarks in crop pixels and returns ``(fake, mask)``: the fake crop (same shape, uint8) and the
float32 H x W blending mask in [0, 1] that says where pixels were replaced.

- ``self_blend``: Shiohara and Yamasaki, "Detecting Deepfakes with Self-Blended Images" (CVPR 2022):
  the face blended with a colour-, sharpness- and geometry-jittered copy of itself inside a deformed,
  blurred landmark-hull mask at a random ratio. The blending boundary and the statistics mismatch are
  what every face swap leaves behind.
- ``face_swap``: a donor face (another person) warped onto the target's landmarks (similarity or
  piecewise-affine), colour-transferred, and blended with alpha or Poisson (``cv2.seamlessClone``);
  the mask may be the whole face or a region (mouth, eyes, nose+mouth) as reenactment methods change.
- ``fake_sequence``: temporal variants for the clip model: ``steady`` (one set of parameters for every
  frame, the mask following the landmarks) or ``flicker`` (mask, ratio and colour re-drawn per frame).

Parameters are drawn from a ``numpy.random.Generator`` into small dataclasses, so a steady sequence
reuses one draw and tests can fix them.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

# 68-point layout (iBUG): jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67.
JAW, BROWS, NOSE = list(range(0, 17)), list(range(17, 27)), list(range(27, 36))
EYES, MOUTH = list(range(36, 48)), list(range(48, 68))
REGIONS = {
    "face": JAW + BROWS,
    "inner": JAW[2:15] + BROWS,        # face without the cheek edges
    "mouth": MOUTH + [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 33],
    "eyes": EYES + BROWS,
    "nose_mouth": NOSE + MOUTH + [4, 5, 6, 7, 8, 9, 10, 11, 12],
}


# --------------------------------------------------------------------------------------------- masks
def hull_mask(landmarks: np.ndarray, shape: tuple[int, int], region: str = "face",
              forehead: float = 0.0) -> np.ndarray:
    """Filled convex hull of a landmark region as float32 {0, 1}. ``forehead`` > 0 lifts the brow
    points by that fraction of the brow-to-chin height (whole-face swaps include the forehead)."""
    pts = landmarks[REGIONS[region]].astype(np.float32).copy()
    if forehead > 0 and region in ("face", "inner"):
        brows = landmarks[BROWS]
        height = landmarks[8, 1] - brows[:, 1].mean()
        lifted = brows.copy()
        lifted[:, 1] -= forehead * height
        pts = np.concatenate([pts, lifted])
    mask = np.zeros(shape[:2], np.float32)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(pts).astype(np.int32)), 1.0)
    return mask


@dataclass
class MaskParams:
    region: str = "face"
    forehead: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)   # x, y scale of the hull around its centre
    elastic: float = 0.0                      # amplitude of the random boundary deformation, pixels
    erode: int = 0                            # > 0 erode, < 0 dilate, pixels
    blur: int = 0                             # Gaussian blur kernel (odd), the soft boundary
    seed: int = 0                             # the deformation field

    @classmethod
    def draw(cls, rng: np.random.Generator, size: int, regions=("face", "face", "inner")) -> "MaskParams":
        k = int(rng.integers(1, max(3, size // 8))) * 2 + 1
        return cls(region=str(rng.choice(regions)), forehead=float(rng.uniform(0, 0.4)) if rng.random() < 0.5 else 0.0,
                   scale=(float(rng.uniform(0.9, 1.05)), float(rng.uniform(0.9, 1.05))),
                   elastic=float(rng.uniform(0, size * 0.04)), erode=int(rng.integers(-size // 32, size // 24 + 1)),
                   blur=k if rng.random() < 0.9 else 0, seed=int(rng.integers(1 << 30)))


def deformed_mask(landmarks: np.ndarray, shape: tuple[int, int], p: MaskParams) -> np.ndarray:
    """Landmark hull, scaled, elastically deformed, eroded or dilated, then blurred (float32 0..1)."""
    h, w = shape[:2]
    pts = landmarks.astype(np.float32).copy()
    centre = pts[REGIONS[p.region]].mean(axis=0)
    pts = (pts - centre) * np.array(p.scale, np.float32) + centre
    mask = hull_mask(pts, shape, p.region, p.forehead)
    if p.elastic > 0:
        rng = np.random.default_rng(p.seed)
        grid = max(2, w // 16)
        dx = cv2.resize(rng.normal(0, p.elastic, (grid, grid)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        dy = cv2.resize(rng.normal(0, p.elastic, (grid, grid)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        mask = cv2.remap(mask, xs + dx, ys + dy, cv2.INTER_LINEAR, borderValue=0)
    if p.erode:
        k = np.ones((abs(p.erode) * 2 + 1,) * 2, np.uint8)
        mask = cv2.erode(mask, k) if p.erode > 0 else cv2.dilate(mask, k)
    if p.blur:
        mask = cv2.GaussianBlur(mask, (p.blur, p.blur), 0)
        mask = cv2.GaussianBlur(mask, (p.blur, p.blur), 0) * (mask > 0)  # SBI: blur twice, keep a soft edge
    return np.clip(mask, 0, 1).astype(np.float32)


def blend(source: np.ndarray, target: np.ndarray, mask: np.ndarray, ratio: float = 1.0) -> np.ndarray:
    m = (mask * ratio)[..., None]
    return np.clip(source.astype(np.float32) * m + target.astype(np.float32) * (1 - m) + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------- self-blending
@dataclass
class SBIParams:
    mask: MaskParams
    ratio: float = 1.0
    hsv: tuple[float, float, float] = (0.0, 0.0, 0.0)   # hue shift (deg), saturation, value multipliers - 1
    rgb: tuple[float, float, float] = (0.0, 0.0, 0.0)   # per-channel shift
    contrast: float = 1.0
    sharp: float = 0.0         # < 0 blur sigma, > 0 unsharp amount
    shift: tuple[float, float] = (0.0, 0.0)   # pixels
    zoom: float = 1.0
    # Jitter the source (blended in) or the target (around it). ``draw`` always jitters the source: a
    # jittered target shifts, zooms (reflecting the crop's borders) and recolours the whole crop, a cue
    # outside the face that no real swap leaves, so pixels outside the mask stay the real crop's.
    source_first: bool = True

    @classmethod
    def draw(cls, rng: np.random.Generator, size: int) -> "SBIParams":
        mask = MaskParams.draw(rng, size)
        return cls(mask=mask, ratio=float(rng.choice([0.25, 0.5, 0.75, 1, 1, 1])) if rng.random() < 0.5 else 1.0,
                   hsv=(float(rng.uniform(-6, 6)), float(rng.uniform(-0.15, 0.15)), float(rng.uniform(-0.15, 0.15))),
                   rgb=tuple(float(v) for v in rng.uniform(-14, 14, 3)),
                   contrast=float(rng.uniform(0.85, 1.15)),
                   sharp=float(rng.choice([-1, 1]) * rng.uniform(0.3, 1.2)) if rng.random() < 0.7 else 0.0,
                   shift=tuple(float(v) for v in rng.uniform(-0.03, 0.03, 2) * size),
                   zoom=float(rng.uniform(0.95, 1.05)), source_first=True)


def colour_jitter(img: np.ndarray, hsv=(0, 0, 0), rgb=(0, 0, 0), contrast=1.0) -> np.ndarray:
    """Hue/saturation/value, contrast and per-channel shifts; rounded (truncating to uint8 would darken
    every jittered face by half a level, a cue of this code rather than of a swap). No jitter: ``img``."""
    if not any(hsv) and not any(rgb) and contrast == 1.0:
        return img
    out = img.astype(np.float32)
    if any(hsv):
        h = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32)
        h[..., 0] = (h[..., 0] + hsv[0] / 2) % 180
        h[..., 1] *= 1 + hsv[1]
        h[..., 2] *= 1 + hsv[2]
        out = cv2.cvtColor(np.clip(h, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    out = (out - out.mean()) * contrast + out.mean() + np.array(rgb, np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def sharpness(img: np.ndarray, amount: float) -> np.ndarray:
    if amount == 0:
        return img
    blurred = cv2.GaussianBlur(img, (0, 0), abs(amount))
    if amount < 0:
        return blurred
    return cv2.addWeighted(img, 1 + amount, blurred, -amount, 0)


def affine_jitter(img: np.ndarray, shift=(0.0, 0.0), zoom: float = 1.0) -> np.ndarray:
    if not any(shift) and zoom == 1.0:
        return img
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 0, zoom)
    m[:, 2] += shift
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def self_blend(img: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator | None = None,
               params: SBIParams | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A self-blended image: (fake, mask)."""
    params = params or SBIParams.draw(rng or np.random.default_rng(), img.shape[0])
    jittered = colour_jitter(img, params.hsv, params.rgb, params.contrast)
    jittered = sharpness(jittered, params.sharp)
    jittered = affine_jitter(jittered, params.shift, params.zoom)
    mask = deformed_mask(landmarks, img.shape, params.mask)
    source, target = (jittered, img) if params.source_first else (img, jittered)
    return blend(source, target, mask, params.ratio), mask * params.ratio


# -------------------------------------------------------------------------------------- face swaps
@dataclass
class SwapParams:
    mask: MaskParams
    warp: str = "similarity"      # similarity | piecewise
    colour: str = "reinhard"      # reinhard | none
    blending: str = "alpha"       # alpha | poisson
    ratio: float = 1.0

    @classmethod
    def draw(cls, rng: np.random.Generator, size: int) -> "SwapParams":
        region = str(rng.choice(["face", "face", "face", "inner", "mouth", "nose_mouth", "eyes"]))
        mask = replace(MaskParams.draw(rng, size), region=region)
        return cls(mask=mask, warp=str(rng.choice(["similarity", "piecewise"])),
                   colour="reinhard" if rng.random() < 0.8 else "none",
                   blending="poisson" if rng.random() < 0.3 else "alpha",
                   ratio=1.0 if rng.random() < 0.7 else float(rng.uniform(0.6, 1.0)))


def similarity_warp(donor: np.ndarray, donor_pts: np.ndarray, target_pts: np.ndarray, shape) -> np.ndarray:
    m, _ = cv2.estimateAffinePartial2D(donor_pts.astype(np.float32), target_pts.astype(np.float32))
    if m is None:
        m = np.eye(2, 3, dtype=np.float64)
    return cv2.warpAffine(donor, m, (shape[1], shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _triangles(points: np.ndarray, shape) -> list[tuple[int, int, int]]:
    h, w = shape[:2]
    subdiv = cv2.Subdiv2D((0, 0, w, h))
    inside = [(i, p) for i, p in enumerate(points) if 0 <= p[0] < w and 0 <= p[1] < h]
    for _, p in inside:
        subdiv.insert((float(p[0]), float(p[1])))
    lookup = {(round(float(p[0]), 2), round(float(p[1]), 2)): i for i, p in inside}
    tris = []
    for t in subdiv.getTriangleList():
        ids = [lookup.get((round(float(t[k]), 2), round(float(t[k + 1]), 2))) for k in (0, 2, 4)]
        if None not in ids:
            tris.append(tuple(ids))
    return tris


def piecewise_warp(donor: np.ndarray, donor_pts: np.ndarray, target_pts: np.ndarray, shape) -> np.ndarray:
    """Piecewise-affine warp over a Delaunay triangulation of the target landmarks, on top of a
    similarity warp for everything outside the landmark hull."""
    out = similarity_warp(donor, donor_pts, target_pts, shape).astype(np.float32)
    for tri in _triangles(target_pts, shape):
        src, dst = donor_pts[list(tri)].astype(np.float32), target_pts[list(tri)].astype(np.float32)
        x, y, w, h = cv2.boundingRect(dst)
        if w <= 0 or h <= 0:
            continue
        m = cv2.getAffineTransform(src, dst - np.array([x, y], np.float32))
        patch = cv2.warpAffine(donor, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        tri_mask = np.zeros((h, w), np.float32)
        cv2.fillConvexPoly(tri_mask, np.round(dst - [x, y]).astype(np.int32), 1.0)
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, shape[1]), min(y + h, shape[0])
        if x1 <= x0 or y1 <= y0:
            continue
        sub_mask = tri_mask[y0 - y:y1 - y, x0 - x:x1 - x, None]
        out[y0:y1, x0:x1] = patch[y0 - y:y1 - y, x0 - x:x1 - x] * sub_mask + out[y0:y1, x0:x1] * (1 - sub_mask)
    return np.clip(out, 0, 255).astype(np.uint8)


def reinhard_transfer(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Match the source's LAB mean and std inside ``mask`` to the target's."""
    sel = mask > 0.5
    if sel.sum() < 16:
        return source
    s = cv2.cvtColor(source, cv2.COLOR_RGB2LAB).astype(np.float32)
    t = cv2.cvtColor(target, cv2.COLOR_RGB2LAB).astype(np.float32)
    s_mean, s_std = s[sel].mean(0), s[sel].std(0) + 1e-3
    t_mean, t_std = t[sel].mean(0), t[sel].std(0) + 1e-3
    out = (s - s_mean) * (t_std / s_std) + t_mean
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def face_swap(target: np.ndarray, target_pts: np.ndarray, donor: np.ndarray, donor_pts: np.ndarray,
              rng: np.random.Generator | None = None, params: SwapParams | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The donor's face (or a region of it) on the target: (fake, mask)."""
    params = params or SwapParams.draw(rng or np.random.default_rng(), target.shape[0])
    if donor.shape != target.shape:
        scale = target.shape[0] / donor.shape[0]
        donor = cv2.resize(donor, (target.shape[1], target.shape[0]), interpolation=cv2.INTER_AREA)
        donor_pts = donor_pts * scale
    warp = piecewise_warp if params.warp == "piecewise" else similarity_warp
    warped = warp(donor, donor_pts, target_pts, target.shape)
    mask = deformed_mask(target_pts, target.shape, params.mask)
    if params.colour == "reinhard":
        warped = reinhard_transfer(warped, target, mask)
    if params.blending == "poisson":
        binary = (mask > 0.3).astype(np.uint8) * 255
        ys, xs = np.nonzero(binary)
        if len(xs) > 16:
            binary[:2], binary[-2:], binary[:, :2], binary[:, -2:] = 0, 0, 0, 0
            x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
            centre = (int((x0 + x1 + 1) // 2), int((y0 + y1 + 1) // 2))
            try:
                cloned = cv2.seamlessClone(warped, target, binary.copy(), centre, cv2.NORMAL_CLONE)  # it edits the mask
                return blend(cloned, target, (binary > 0).astype(np.float32), params.ratio), (binary > 0).astype(np.float32) * params.ratio
            except cv2.error:
                pass  # a mask touching the border: fall back to alpha blending
    return blend(warped, target, mask, params.ratio), mask * params.ratio


# ---------------------------------------------------------------------------------- temporal fakes
def fake_sequence(crops: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator, mode: str = "steady",
                  method: str = "sbi", donor: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """A fake version of a T x H x W x 3 crop sequence (uint8, same shape).

    ``steady``: one parameter draw for all frames (the mask follows each frame's landmarks), like a
    well-made swap. ``flicker``: mask shape, ratio and colour re-drawn per frame, like a swap whose
    boundary and colour wobble over time. ``method`` is ``sbi`` or ``swap`` (``donor`` = donor crops and
    landmarks, T' frames, used cyclically).
    """
    size = crops.shape[1]
    out = np.empty_like(crops)
    base = SBIParams.draw(rng, size) if method == "sbi" else SwapParams.draw(rng, size)
    for t in range(len(crops)):
        params = base
        if mode == "flicker":
            fresh = SBIParams.draw(rng, size) if method == "sbi" else SwapParams.draw(rng, size)
            if rng.random() < 0.5:  # keep the look, jitter only the mask and ratio
                params = replace(base, mask=replace(fresh.mask, region=base.mask.region),
                                 ratio=float(np.clip(base.ratio + rng.normal(0, 0.15), 0.3, 1.0)))
            else:
                params = fresh
        if method == "sbi":
            out[t], _ = self_blend(crops[t], landmarks[t], params=params)
        else:
            d_crops, d_pts = donor
            k = t % len(d_crops)
            out[t], _ = face_swap(crops[t], landmarks[t], d_crops[k], d_pts[k], params=params)
    return out
