"""MediaPipe's bundled face detector (BlazeFace, short range), as the last try of the face cascade.

``ml.media.faces`` asks it only when dlib's HOG found nothing in any key frame: it finds turned heads,
sunglasses, hands over faces and close-ups that HOG misses, at ~8 ms a frame on one core. Its
weights ship inside the ``mediapipe`` 0.10.14 wheel (installed ``--no-deps`` by ``make``: the wheel
pins protobuf < 5 and opencv-contrib-python, which would clash with ours); nothing is downloaded.

Its boxes are not dlib's: the 68-point landmark predictor was trained on dlib HOG boxes, so each
box is mapped to the HOG box it corresponds to (``BOX_TO_HOG``, fitted on 329 dev and train photos
where both found one face; landmarks from a mapped box are within 1.2% of the eye distance of those
from the HOG box at the median, 3.2% at the 90th percentile).
"""
from __future__ import annotations

import logging
import threading

import numpy as np

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]

# Above MediaPipe's own default (0.5): uniform noise scored 0.52 as a face; the faces it rescued on dev's and
# train's photos and dev-wild's clips (where HOG found none) scored 0.61-0.94 (bench/face_detectors.py).
MIN_SCORE = 0.6
# HOG box from a MediaPipe box of width w: centre moved by (dx, dy) * w, side = side * w.
BOX_TO_HOG = {"dx": 0.0, "dy": -0.023, "side": 0.915}

_lock = threading.Lock()
_detector = None
_unavailable = False


def _protobuf_compat() -> None:
    """mediapipe 0.10.14 calls ``SymbolDatabase.GetPrototype`` and ``MessageFactory.GetPrototype``,
    which newer protobuf releases removed; ``message_factory.GetMessageClass`` is their replacement
    and returns the same class. Only missing methods are added; nothing existing is changed."""
    from google.protobuf import message_factory, symbol_database

    def get_prototype(self, descriptor):
        return message_factory.GetMessageClass(descriptor)

    for cls in (symbol_database.SymbolDatabase, message_factory.MessageFactory):
        if not hasattr(cls, "GetPrototype"):
            cls.GetPrototype = get_prototype


def _load():
    """The detector, built once per process; None (logged once) when mediapipe is not installed."""
    global _detector, _unavailable
    if _detector is None and not _unavailable:
        try:
            _protobuf_compat()
            from mediapipe.python.solutions import face_detection
        except ImportError as exc:
            _unavailable = True
            log.warning("mediapipe is not installed (%s): the face cascade ends with dlib HOG", exc)
            return None
        _detector = face_detection.FaceDetection(model_selection=0, min_detection_confidence=MIN_SCORE)
    return _detector


def available() -> bool:
    with _lock:
        return _load() is not None


def hog_box(rel_box, width: int, height: int) -> Box:
    """The dlib-HOG-like square box for a MediaPipe relative box (may reach past the frame)."""
    w = rel_box.width * width
    cx = (rel_box.xmin + rel_box.width / 2) * width + BOX_TO_HOG["dx"] * w
    cy = (rel_box.ymin + rel_box.height / 2) * height + BOX_TO_HOG["dy"] * w
    half = BOX_TO_HOG["side"] * w / 2
    return int(round(cx - half)), int(round(cy - half)), int(round(cx + half)), int(round(cy + half))


def detect(rgb: np.ndarray) -> list[tuple[Box, float, np.ndarray]]:
    """(HOG-like box in source pixels, score, 6 x 2 keypoints: eyes, nose tip, mouth, ears) per face.
    The graph keeps state, so calls are serialised."""
    height, width = rgb.shape[:2]
    with _lock:
        detector = _load()
        if detector is None:
            return []
        result = detector.process(np.ascontiguousarray(rgb))
    faces = []
    for det in result.detections or []:
        if det.score[0] < MIN_SCORE:  # the graph's own min_detection_confidence lets lower ones through
            continue
        loc = det.location_data
        points = np.array([(p.x * width, p.y * height) for p in loc.relative_keypoints], dtype=np.float32)
        faces.append((hog_box(loc.relative_bounding_box, width, height), float(det.score[0]), points))
    return faces
