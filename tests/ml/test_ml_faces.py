"""The face cascade: close-ups, small faces, covered eyes and pictures without a face.

The faces come from a real clip in the shared data (``tests/ml_media.py``: a missing file fails the
test, never skips it); MediaPipe missing fails under CI and skips elsewhere.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from ml.media import mediapipe_faces
from ml.media.faces import FaceFinder, crop_face

from tests.conftest import require
from tests.ml_media import face_image


@pytest.fixture(scope="module")
def face(tmp_path_factory):
    """A 640 px frame of a frontal face, its HOG landmarks and the eye distance."""
    path = face_image(tmp_path_factory.mktemp("faces") / "face.jpg")
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    tracks = FaceFinder(rescue=()).track([rgb])
    assert len(tracks) == 1
    points = tracks[0].faces[0].landmarks
    return rgb, points, _eye_distance(points)


@pytest.fixture(scope="module")
def mediapipe():
    require(mediapipe_faces.available(), "mediapipe 0.10.14 is not installed (make setup installs it)")


def _eye_distance(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[36:42].mean(0) - points[42:48].mean(0)))


def _only_face(rgb: np.ndarray, finder: FaceFinder | None = None):
    tracks = [t for t in (finder or FaceFinder()).track([rgb]) if t.faces]
    assert len(tracks) == 1, f"{len(tracks)} faces"
    return tracks[0]


def _landscape() -> np.ndarray:
    """A sky gradient over a noisy field: no face anywhere."""
    rng = np.random.default_rng(3)
    sky = np.linspace([90, 140, 230], [200, 220, 250], 300)[:, None, :] * np.ones((1, 800, 1))
    field = np.clip(rng.normal([60, 120, 40], 25, (300, 800, 3)), 0, 255)
    return cv2.GaussianBlur(np.concatenate([sky, field]).astype(np.uint8), (0, 0), 1.5)


def test_a_close_up_whose_face_fills_the_frame_gets_a_face_with_sane_landmarks(face, mediapipe):
    rgb, points, eyes = face
    x0, y0 = points.min(0).astype(int) + 2  # tighter than the landmarks: the face is cut at every side
    x1, y1 = points.max(0).astype(int) - 2
    close_up = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    assert FaceFinder(rescue=()).track([close_up]) == []  # what today's HOG finder did
    track = _only_face(close_up)
    assert track.found_by in ("padded", "mediapipe")
    found = track.faces[0].landmarks + (x0, y0)  # back in the frame's pixels
    assert np.linalg.norm(found - points, axis=1).mean() < 0.15 * eyes
    crop, _, crop_points = crop_face(close_up, track.faces[0].landmarks, 128)
    left, right = crop_points[36:42].mean(0), crop_points[42:48].mean(0)
    assert abs(left[1] - right[1]) < 2 and left[0] < 64 < right[0]  # eyes level, either side of the middle


def test_a_small_face_in_a_big_frame_gets_a_face(face):
    rgb, points, _ = face
    x0, y0 = points.min(0).astype(int) - 40
    x1, y1 = points.max(0).astype(int) + 40
    head = rgb[max(y0, 0):y1, max(x0, 0):x1]
    scale = 130 / (points[:, 0].max() - points[:, 0].min())  # a face ~130 px wide, 7% of the frame's width
    head = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.full((1080, 1920, 3), 120, np.uint8)
    frame[700:700 + head.shape[0], 1500:1500 + head.shape[1]] = head
    box = _only_face(frame).faces[0].box
    assert 1500 <= box[0] and box[2] <= 1500 + head.shape[1] and 700 <= box[1]


def test_a_small_picture_of_a_face_gets_a_face(face, mediapipe):
    rgb, points, _ = face
    x0, y0 = points.min(0).astype(int) - 10
    x1, y1 = points.max(0).astype(int) + 10
    small = cv2.resize(rgb[y0:y1, x0:x1], (72, 96), interpolation=cv2.INTER_AREA)  # like dev's DFDC crops
    assert FaceFinder(rescue=()).track([small]) == []  # what today's HOG finder did
    assert _only_face(small).found_by in ("padded", "mediapipe")


def test_a_face_behind_dark_glasses_is_found_by_mediapipe_with_landmarks_where_hog_puts_them(face, mediapipe):
    rgb, points, eyes = face
    covered = rgb.copy()
    for eye in (points[36:42], points[42:48]):
        centre = tuple(int(v) for v in eye.mean(0))
        cv2.ellipse(covered, centre, (int(eyes * 0.45), int(eyes * 0.3)), 0, 0, 360, (10, 10, 10), -1)
    finder = FaceFinder(rescue=("mediapipe",))
    boxes = finder._rescue_mediapipe(covered)
    assert len(boxes) == 1
    # The mapped box gives the 68-point predictor what a HOG box would: on the uncovered frame the
    # landmarks from MediaPipe's box agree with those from HOG's.
    found = finder.landmarks(rgb, finder._rescue_mediapipe(rgb)[0])
    assert np.linalg.norm(found - points, axis=1).mean() < 0.1 * eyes


@pytest.mark.parametrize("picture", ["landscape", "noise", "gradient"])
def test_a_picture_without_a_face_gets_none(picture, mediapipe):
    rng = np.random.default_rng(0)
    rgb = {
        "landscape": _landscape,
        "noise": lambda: rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
        "gradient": lambda: (np.linspace(0, 255, 640)[None, :, None] * np.ones((480, 1, 3))).astype(np.uint8),
    }[picture]()
    assert FaceFinder().track([rgb]) == []
    assert FaceFinder().track([rgb] * 6) == []


def test_the_rescue_steps_never_run_where_hog_finds_a_face(face, monkeypatch):
    def refuse(self, rgb):
        raise AssertionError("a rescue step ran although HOG had found the face")

    monkeypatch.setattr(FaceFinder, "_rescue_padded", refuse)
    monkeypatch.setattr(FaceFinder, "_rescue_mediapipe", refuse)
    rgb, _, _ = face
    track = _only_face(rgb)
    assert track.found_by == "hog"
    assert len(FaceFinder().track([rgb] * 6)[0].faces) == 6


def test_an_unknown_rescue_step_is_refused():
    with pytest.raises(ValueError, match="unknown rescue steps"):
        FaceFinder(rescue=("padded", "haar"))
