"""Find, track, align and crop faces.

Detection is a cascade; each step runs only where every earlier one found nothing in any key frame,
so a clip whose faces the first step finds costs what it always did:
1. dlib's HOG detector on a frame scaled to ``detect_side`` pixels on its long side (the fast path);
2. HOG again at ``fallback_side`` (small faces in a big frame);
3. the rescue steps (``RESCUE_STEPS``): HOG on the frame inside a border of its mean colour, scaled
   to ``pad_side`` (close-ups whose face fills the frame, small pictures), then MediaPipe's bundled
   face detector (``ml.media.mediapipe_faces``: turned heads, sunglasses, hands over the face).
``python bench/face_detectors.py`` measures each step's recall and cost on dev's and train's photos
and dev-wild's clips (the table is in ``ml/README.md``).
Tracking: detect on every ``detect_every``-th sampled frame, link boxes into tracks by overlap, and
interpolate boxes in between. Alignment: dlib's 68-point landmarks (from ``face-recognition-models``)
in every frame; the crop is a square around the landmarks, rotated so the eyes are level.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import dlib
import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1

CROP_MARGIN = 1.5  # crop side = margin x the landmarks' extent (face plus some hair, chin and background)
# Steps tried, in order, where HOG found no face (names of FaceFinder._rescue_* methods).
RESCUE_STEPS = ("padded", "mediapipe")
# FaceFinder.fit_box moves a MediaPipe box only when that cuts the keypoint error to this share or less
# (on frontal faces the mapped box is already right, and small "gains" there are noise).
FIT_GAIN = 0.75


def landmark_model_path() -> str:
    """dlib's 68-point model shipped by the face-recognition-models package (not imported: it
    needs pkg_resources, and only the file is wanted)."""
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face-recognition-models is not installed")
    base = list(spec.submodule_search_locations)[0]
    return os.path.join(base, "models", "shape_predictor_68_face_landmarks.dat")


@lru_cache(maxsize=1)
def _dlib_models():
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(landmark_model_path())


@dataclass
class Face:
    box: Box  # from the landmarks, in source pixels
    landmarks: np.ndarray  # 68 x 2 float32, source pixels
    track: int
    detected: bool  # found by the detector in this frame (not interpolated)


@dataclass
class Track:
    id: int
    faces: dict[int, Face] = field(default_factory=dict)  # position in the frame list -> face
    found_by: str = "hog"  # the cascade step whose detections made the track (see the module's docstring)


def iou(a: Box, b: Box) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceFinder:
    def __init__(self, *, detect_side: int = 480, fallback_side: int = 1280, detect_every: int = 4,
                 min_face: int = 40, rescue: tuple[str, ...] = RESCUE_STEPS, pad: float = 0.25,
                 pad_side: int = 320):
        self.detect_side = detect_side
        self.fallback_side = fallback_side  # small faces: a second look at up to this scale
        self.detect_every = detect_every
        self.min_face = min_face
        self.rescue = tuple(rescue)  # () is the HOG-only finder of before the cascade
        self.pad, self.pad_side = pad, pad_side
        unknown = [s for s in self.rescue if not hasattr(self, f"_rescue_{s}")]
        if unknown:
            raise ValueError(f"unknown rescue steps {unknown}")
        self.detector, self.shape_predictor = _dlib_models()

    # -- single frames -------------------------------------------------------------------------
    def detect(self, rgb: np.ndarray, *, side: int | None = None, upsample: int = 0) -> list[Box]:
        """Face boxes in source pixels, found on a copy scaled to ``side`` on its long side."""
        h, w = rgb.shape[:2]
        scale = min(1.0, (side or self.detect_side) / max(h, w))
        small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
        rects = self.detector(np.ascontiguousarray(small), upsample)
        boxes = []
        for r in rects:
            box = (
                max(0, int(r.left() / scale)), max(0, int(r.top() / scale)),
                min(w, int(r.right() / scale)), min(h, int(r.bottom() / scale)),
            )
            if min(box[2] - box[0], box[3] - box[1]) >= self.min_face:
                boxes.append(box)
        return boxes

    # -- rescue steps: each takes one RGB frame and returns boxes in source pixels ----------------
    def _rescue_upsample(self, rgb: np.ndarray) -> list[Box]:
        """HOG with dlib's own 2x upsampling (faces of 40-80 px at ``detect_side``)."""
        return self.detect(rgb, upsample=1)

    def _rescue_padded(self, rgb: np.ndarray) -> list[Box]:
        """HOG on the frame inside a border of its mean colour, scaled up or down to ``pad_side``.
        HOG's window needs some background around a face, which a close-up lacks; a small picture
        gets the pixels it needs. Boxes may reach past the frame (landmarks need the whole face)."""
        h, w = rgb.shape[:2]
        border = round(self.pad * max(h, w))
        mean = [int(v) for v in rgb.reshape(-1, 3).mean(axis=0)]
        padded = cv2.copyMakeBorder(rgb, border, border, border, border, cv2.BORDER_CONSTANT, value=mean)
        scale = self.pad_side / max(padded.shape[:2])
        size = (round(padded.shape[1] * scale), round(padded.shape[0] * scale))
        small = cv2.resize(padded, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        boxes = []
        for r in self.detector(small, 0):
            box = tuple(int(round(v / scale)) - border for v in (r.left(), r.top(), r.right(), r.bottom()))
            if _visible_side(box, w, h) >= self.min_face:
                boxes.append(box)
        return boxes

    def _rescue_mediapipe(self, rgb: np.ndarray) -> list[Box]:
        """MediaPipe's BlazeFace. Its boxes are mapped to HOG's convention, then fitted to its
        keypoints so that the 68-point landmarks land on its eyes, nose tip and mouth."""
        from ml.media import mediapipe_faces

        h, w = rgb.shape[:2]
        boxes = []
        for box, _, keypoints in mediapipe_faces.detect(rgb):
            box = self.fit_box(rgb, box, keypoints[:4])
            if _visible_side(box, w, h) >= self.min_face:
                boxes.append(box)
        return boxes

    def fit_box(self, rgb: np.ndarray, box: Box, keypoints: np.ndarray, rounds: int = 2) -> Box:
        """``box`` or a scaled and shifted copy of it, whichever puts the predictor's eye centres, nose
        tip and mouth centre closest to ``keypoints`` (4 x 2 in that order, the eye on the image's left
        first). The predictor's output follows its box, so the shift and scale that best map its points
        onto the keypoints (least squares) are applied to the box; a turned head is where this helps."""
        x0, y0, x1, y1 = box
        centre, side = np.array([(x0 + x1) / 2, (y0 + y1) / 2]), float(x1 - x0)
        target = keypoints.astype(np.float64)
        best, best_error = box, np.inf
        for step in range(rounds + 1):
            candidate = _square(centre, side)
            pts = self.landmarks(rgb, candidate)
            ours = np.stack([pts[36:42].mean(0), pts[42:48].mean(0), pts[30], pts[48:68].mean(0)])
            error = float(np.linalg.norm(ours - target, axis=1).mean())
            if error < best_error * (1.0 if step == 0 else FIT_GAIN):  # only a clear gain over the mapped box
                best, best_error = candidate, error
            if step == rounds:
                break
            a, b = ours - ours.mean(0), target - target.mean(0)
            scale = float(np.clip((a * b).sum() / max((a * a).sum(), 1e-6), 0.7, 1.4))
            centre = target.mean(0) + scale * (centre - ours.mean(0))
            side *= scale
        return best

    def landmarks(self, rgb: np.ndarray, box: Box) -> np.ndarray:
        shape = self.shape_predictor(rgb, dlib.rectangle(*box))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    # -- sequences ------------------------------------------------------------------------------
    def track(self, frames: list[np.ndarray]) -> list[Track]:
        """Face tracks over a list of RGB frames (an image is a list of one)."""
        n = len(frames)
        keys = sorted(set(range(0, n, self.detect_every)) | {n - 1})
        found_by = "hog"
        detections = {k: self.detect(frames[k]) for k in keys}
        if not any(detections.values()):  # small faces: look again at a larger scale
            found_by = "hog_large"
            detections = {k: self.detect(frames[k], side=self.fallback_side) for k in keys}
        for step in self.rescue:  # only where HOG found nothing at all
            if any(detections.values()):
                break
            found_by, find = step, getattr(self, f"_rescue_{step}")
            detections = {k: find(frames[k]) for k in keys}
        tracks = _link(detections)
        # A box seen in a single key frame of many is most likely a false detection.
        if len(keys) >= 4:
            tracks = [t for t in tracks if len(t) >= 2] or tracks
        result = []
        for tid, boxes in enumerate(tracks):
            track = Track(tid, found_by=found_by)
            for pos, box in _fill(boxes, n).items():
                pts = self.landmarks(frames[pos], box)
                track.faces[pos] = Face(_box_of(pts, frames[pos].shape), pts, tid, pos in boxes)
            result.append(track)
        return result


def _link(detections: dict[int, list[Box]], min_iou: float = 0.2) -> list[dict[int, Box]]:
    """Greedy IoU linking of per-key-frame boxes into tracks (key position -> box)."""
    tracks: list[dict[int, Box]] = []
    for pos in sorted(detections):
        free = list(detections[pos])
        for track in sorted(tracks, key=lambda t: -max(t)):
            last = track[max(track)]
            if not free:
                break
            best = max(free, key=lambda b: iou(b, last))
            if iou(best, last) >= min_iou:
                track[pos] = best
                free.remove(best)
        tracks.extend({pos: b} for b in free)
    return tracks


def _fill(boxes: dict[int, Box], n: int) -> dict[int, Box]:
    """Boxes for every frame position in the track's span: interpolated between key frames, held
    at the ends."""
    keys = sorted(boxes)
    out: dict[int, Box] = {}
    first, last = keys[0], keys[-1]
    for pos in range(n):
        if pos <= first:
            out[pos] = boxes[first] if first - pos <= 2 or len(keys) == 1 else None
        elif pos >= last:
            out[pos] = boxes[last] if pos - last <= 2 or len(keys) == 1 else None
        else:
            a = max(k for k in keys if k <= pos)
            b = min(k for k in keys if k >= pos)
            t = 0.0 if a == b else (pos - a) / (b - a)
            out[pos] = tuple(int(round((1 - t) * pa + t * pb)) for pa, pb in zip(boxes[a], boxes[b]))
    return {p: b for p, b in out.items() if b is not None}


def _square(centre, side: float) -> Box:
    half = side / 2
    return (int(round(centre[0] - half)), int(round(centre[1] - half)),
            int(round(centre[0] + half)), int(round(centre[1] + half)))


def _visible_side(box: Box, w: int, h: int) -> int:
    """The shorter side of the part of ``box`` inside a w x h frame."""
    return min(min(box[2], w) - max(box[0], 0), min(box[3], h) - max(box[1], 0))


def _box_of(points: np.ndarray, shape) -> Box:
    h, w = shape[:2]
    x0, y0 = np.maximum(points.min(axis=0), 0)
    x1, y1 = points.max(axis=0)
    return int(x0), int(y0), int(min(x1, w)), int(min(y1, h))


def align_matrix(landmarks: np.ndarray, size: int, margin: float = CROP_MARGIN) -> np.ndarray:
    """2 x 3 affine map from source pixels to a ``size`` x ``size`` crop: centred on the
    landmarks, eyes level, side = margin x the landmarks' extent."""
    left_eye, right_eye = landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)
    angle = np.degrees(np.arctan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0]))
    x0, y0 = landmarks.min(axis=0)
    x1, y1 = landmarks.max(axis=0)
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    side = max(x1 - x0, y1 - y0) * margin
    m = cv2.getRotationMatrix2D(centre, float(angle), size / max(side, 1.0))
    m[:, 2] += np.array([size / 2, size / 2]) - np.array(centre)
    return m


def crop_face(rgb: np.ndarray, landmarks: np.ndarray, size: int, margin: float = CROP_MARGIN):
    """(crop, matrix, landmarks in crop pixels). Outside the frame is black, never mirrored."""
    m = align_matrix(landmarks, size, margin)
    crop = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)
    pts = np.c_[landmarks, np.ones(len(landmarks))] @ m.T
    return crop, m, pts.astype(np.float32)
