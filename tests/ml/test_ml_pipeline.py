"""The detector pipeline: frames, faces, model, Grad-CAM, Predictor, CLI and ONNX."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ml import errors
from ml.models.checkpoint import init_untrained, load_checkpoint
from ml.detect import JSON_KEYS
from ml.errors import MediaError
from ml.media.faces import FaceFinder, crop_face
from ml.inference.gradcam import GradCAM
from ml.inference import Predictor
from ml.media.decode import probe, sample_frames, sample_indices
from ml.models.builders import build_model, preprocess

from tests.ml_media import FACE_CLIP_B, REPO, face_clip, face_image, ffmpeg, no_face_clip

EXPECTED = json.loads((REPO / "tests" / "data" / "expected_model_output.json").read_text())


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    a = face_clip(d / "face.mp4", seconds=4)
    b = face_clip(d / "face_b.mp4", seconds=4, source=FACE_CLIP_B, width=360)
    two = d / "two_faces.mp4"  # two different people side by side
    ffmpeg("-t", "3", "-i", str(a), "-t", "3", "-i", str(b), "-filter_complex",
           "[0:v]fps=25,scale=-2:360,setsar=1[l];[1:v]fps=25,scale=-2:360,setsar=1[r];[l][r]hstack=shortest=1",
           "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(two))
    rotated = d / "rotated.mp4"  # pixels stored sideways, rotation metadata turns them upright
    ffmpeg("-i", str(a), "-vf", "transpose=2", "-c:v", "libx264", "-preset", "veryfast", str(d / "sideways.mp4"))
    ffmpeg("-i", str(d / "sideways.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated))
    vfr = d / "vfr.mkv"  # first second at 10 fps, then 30 fps: a variable frame rate
    ffmpeg("-i", str(a), "-filter_complex",
           "[0:v]trim=0:1,fps=10,setpts=PTS-STARTPTS[x];[0:v]trim=1:3,fps=30,setpts=PTS-STARTPTS[y];"
           "[x][y]concat=n=2:v=1[v]", "-map", "[v]", "-fps_mode", "vfr", "-c:v", "libx264",
           "-preset", "veryfast", str(vfr))
    odd = face_clip(d / "odd.mkv", seconds=1, width=333, extra=("-vf", "scale=333:247", "-c:v", "libx264rgb"))
    short = face_clip(d / "short.mp4", seconds=0.3)
    truncated = d / "truncated.mp4"
    truncated.write_bytes(a.read_bytes()[: a.stat().st_size // 3])
    text = d / "notes.mp4"
    text.write_text("this is not a video\n" * 10)
    empty = d / "empty.webm"
    empty.write_bytes(b"")
    return {"face": a, "face_b": b, "two": two, "rotated": rotated, "vfr": vfr, "odd": odd,
            "short": short, "no_face": no_face_clip(d / "no_face.mp4"), "truncated": truncated,
            "text": text, "empty": empty, "image": face_image(d / "face.jpg")}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "untrained.pt"
    init_untrained(path)
    return path


@pytest.fixture(scope="module")
def predictor(checkpoint):
    return Predictor.load(checkpoint)


# -- frames ----------------------------------------------------------------------------------------
def test_sample_indices_spread_evenly():
    assert sample_indices(300, 4) == [37, 112, 187, 262]
    assert sample_indices(3, 32) == [0, 1, 2]
    assert sample_indices(0, 32) == []


def test_frames_are_spread_evenly_in_time(clips):
    info = probe(str(clips["face"]))
    frames = sample_frames(str(clips["face"]), 32, info)
    assert len(frames) == 32
    times = np.array([f.time for f in frames])
    assert np.all(np.diff(times) > 0)
    assert np.allclose(np.diff(times), info.duration / 32, atol=0.05)
    assert frames[0].image.shape == (info.height, info.width, 3) and frames[0].image.dtype == np.uint8


def test_very_short_clip_gives_the_frames_it_has(clips):
    frames = sample_frames(str(clips["short"]), 32)
    assert 1 <= len(frames) <= 10
    assert len({f.index for f in frames}) == len(frames)


def test_variable_frame_rate_is_sampled_by_time(clips):
    frames = sample_frames(str(clips["vfr"]), 8)
    times = np.array([f.time for f in frames])
    assert len(frames) == 8
    assert np.allclose(np.diff(times), times.max() / 7.5, atol=0.12)  # even in time, not in frames


def test_rotation_metadata_is_applied(clips, predictor):
    upright = sample_frames(str(clips["face"]), 1)[0].image
    rotated = sample_frames(str(clips["rotated"]), 1)[0].image
    assert rotated.shape == upright.shape  # stored sideways, returned upright
    assert predictor.predict(str(clips["rotated"])).status == "ok"


def test_odd_sizes_decode(clips):
    frames = sample_frames(str(clips["odd"]), 4)
    assert frames[0].image.shape == (247, 333, 3)


def test_an_image_is_one_frame(clips):
    frames = sample_frames(str(clips["image"]), 32)
    assert len(frames) == 1 and frames[0].time == 0.0


@pytest.mark.parametrize("name, code", [
    ("empty", errors.EMPTY_FILE), ("text", errors.UNSUPPORTED_TYPE), ("truncated", errors.CORRUPT_MEDIA)])
def test_bad_files_raise_a_media_error_with_a_code(clips, name, code):
    with pytest.raises(MediaError) as caught:
        sample_frames(str(clips[name]), 8)
    assert caught.value.code == code and caught.value.message


def test_limits_refuse_big_pictures_by_side_and_by_pixel_count(tmp_path):
    from PIL import Image

    from ml.media.decode import Limits

    path = tmp_path / "wide.png"
    Image.new("RGB", (3000, 2000)).save(path)
    assert probe(str(path), Limits(max_side=4000)).width == 3000
    for limits in (Limits(max_side=2500), Limits(max_pixels=5_000_000)):
        with pytest.raises(MediaError) as caught:
            probe(str(path), limits)
        assert caught.value.code == errors.TOO_LARGE


# -- faces -----------------------------------------------------------------------------------------
def test_one_face_is_tracked_through_the_clip(clips):
    frames = [f.image for f in sample_frames(str(clips["face"]), 16)]
    tracks = FaceFinder().track(frames)
    assert len(tracks) == 1
    assert len(tracks[0].faces) == 16
    assert sum(f.detected for f in tracks[0].faces.values()) < 16  # the rest were tracked, not detected


def test_two_people_make_two_tracks(clips):
    frames = [f.image for f in sample_frames(str(clips["two"]), 8)]
    tracks = FaceFinder().track(frames)
    assert len(tracks) == 2
    left, right = sorted(tracks, key=lambda t: next(iter(t.faces.values())).box[0])
    assert next(iter(left.faces.values())).box[2] < next(iter(right.faces.values())).box[0]


def test_no_face_gives_no_track(clips):
    frames = [f.image for f in sample_frames(str(clips["no_face"]), 8)]
    assert FaceFinder().track(frames) == []


def test_crop_is_square_aligned_and_maps_landmarks(clips):
    image = sample_frames(str(clips["image"]), 1)[0].image
    finder = FaceFinder()
    box = finder.detect(image)[0]
    points = finder.landmarks(image, box)
    crop, matrix, crop_points = crop_face(image, points, 128)
    assert crop.shape == (128, 128, 3)
    assert matrix.shape == (2, 3)
    eyes_l, eyes_r = crop_points[36:42].mean(0), crop_points[42:48].mean(0)
    assert abs(eyes_l[1] - eyes_r[1]) < 1.0  # eyes level after alignment
    assert np.all((crop_points > 0) & (crop_points < 128))


# -- model and Grad-CAM ----------------------------------------------------------------------------
def test_seeded_model_output_matches_the_stored_expectation():
    torch.manual_seed(EXPECTED["seed"])
    model = build_model("cnn_lstm").eval()
    x = torch.randn(*EXPECTED["input_shape"], generator=torch.Generator().manual_seed(EXPECTED["input_seed"]))
    with torch.inference_mode():
        out = model(x)
    assert out["frame_logits"].shape == (2, 4) and out["clip_logit"].shape == (2,)
    assert np.allclose(out["frame_logits"].numpy(), EXPECTED["frame_logits"], atol=1e-5)
    assert np.allclose(out["clip_logit"].numpy(), EXPECTED["clip_logit"], atol=1e-5)


def test_preprocess_scales_to_minus_one_one():
    x = preprocess(torch.tensor([[[[0, 255, 128]]]], dtype=torch.uint8))
    assert x.shape == (1, 3, 1, 1)
    assert torch.allclose(x.flatten(), torch.tensor([-1.0, 1.0, 128 / 127.5 - 1]), atol=1e-6)


def test_the_numpy_input_scale_is_the_models():
    from ml.inference.backends import normalise

    crops = np.random.default_rng(1).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    assert np.allclose(normalise(crops), preprocess(torch.from_numpy(crops)).numpy(), atol=1e-6)


def test_gradcam_maps_have_crop_shape_and_hooks_are_released(checkpoint):
    model, _ = load_checkpoint(checkpoint)
    layer = model.backbone.target_layer
    crops = torch.randn(3, 3, 128, 128)
    with GradCAM(model) as cam:
        assert len(layer._forward_hooks) == 1
        maps = cam(crops)
    assert maps.shape == (3, 128, 128)
    assert maps.min() >= 0 and maps.max() <= 1.0 + 1e-6
    assert len(layer._forward_hooks) == 0
    assert all(p.grad is None for p in model.parameters())  # no gradients left behind


# -- Predictor -------------------------------------------------------------------------------------
def test_predict_a_face_clip_with_heatmaps(clips, predictor, tmp_path):
    stages = []
    result = predictor.predict(str(clips["face"]), heatmap_dir=str(tmp_path), max_heatmaps=4,
                               progress=lambda stage, pct: stages.append((stage, pct)))
    assert result.status == "ok", result.error
    assert result.kind == "video" and 0.0 <= result.score <= 1.0
    assert result.label == ("fake" if result.score >= result.threshold else "real")
    assert result.model_version == "untrained-seed0"
    assert len(result.frames) == 32 and result.faces_found == 32
    with_heatmap = [f for f in result.frames if f.heatmap]
    assert len(with_heatmap) == 4
    top4 = sorted(f.score for f in result.frames)[-4:]
    assert sorted(f.score for f in with_heatmap) == top4
    for f in with_heatmap:
        from PIL import Image

        heat, plain = Image.open(f.heatmap), Image.open(f.thumbnail)
        assert heat.size == plain.size == (640, 360)
        assert np.abs(np.asarray(heat, int) - np.asarray(plain, int)).mean() > 1  # an overlay was drawn
    assert [s for s, _ in stages] == ["reading_frames", "finding_faces", "scoring", "heatmaps", "done"]
    assert {"decode", "faces", "crop", "cnn", "lstm", "gradcam", "heatmap_files"} <= set(result.timings)


def test_purification_changes_scores_a_little_and_keeps_the_verdict_shape(clips, checkpoint):
    plain = Predictor.load(checkpoint).predict(str(clips["face"]), frames=8)
    purified = Predictor.load(checkpoint, purify=True).predict(str(clips["face"]), frames=8)
    assert purified.status == "ok" and len(purified.frames) == len(plain.frames)
    assert [f.score for f in purified.frames] != [f.score for f in plain.frames]


def test_two_faces_clip_score_is_the_highest_track(clips, predictor):
    result = predictor.predict(str(clips["two"]), frames=8)
    assert result.status == "ok" and result.tracks == 2
    assert {f.track for f in result.frames} == {0, 1}


def test_image_prediction(clips, predictor):
    result = predictor.predict(str(clips["image"]))
    assert result.status == "ok" and result.kind == "image"
    assert len(result.frames) == 1 and result.score == result.frames[0].score


def test_no_face_is_a_status_not_a_guess(clips, predictor):
    result = predictor.predict(str(clips["no_face"]))
    assert (result.status, result.score, result.label, result.error_code) == ("no_face", None, None, "no_face")


@pytest.mark.parametrize("name", ["empty", "text", "truncated"])
def test_bad_files_come_back_as_errors(clips, predictor, name):
    result = predictor.predict(str(clips[name]))
    assert result.status == "error" and result.error_code and result.error and result.score is None


# -- ONNX ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def onnx_file(checkpoint):
    from ml.inference.export_onnx import export_checkpoint

    return Path(export_checkpoint(checkpoint, checkpoint.with_suffix(".onnx")))


def test_onnx_and_torch_agree_on_real_face_crops(clips, checkpoint, onnx_file, tmp_path):
    torch_predictor = Predictor.load(checkpoint)
    onnx_predictor = Predictor.load(checkpoint, backend="onnx")
    a = torch_predictor.predict(str(clips["face"]), frames=12, heatmap_dir=str(tmp_path / "a"), max_heatmaps=3)
    b = onnx_predictor.predict(str(clips["face"]), frames=12, heatmap_dir=str(tmp_path / "b"), max_heatmaps=3)
    assert a.status == b.status == "ok"
    assert abs(a.score - b.score) < 1e-4
    assert np.allclose([f.score for f in a.frames], [f.score for f in b.frames], atol=1e-4)
    assert [f.index for f in a.frames if f.heatmap] == [f.index for f in b.frames if f.heatmap]


def test_onnx_cams_equal_hook_based_gradcam(checkpoint, onnx_file):
    """The closed form in the ONNX graph is Grad-CAM for a linear head after average pooling."""
    from ml.inference.backends import OnnxScorer, TorchScorer

    model, _ = load_checkpoint(checkpoint)
    crops = np.random.default_rng(0).integers(0, 256, (5, 128, 128, 3), dtype=np.uint8)
    torch_scorer, onnx_scorer = TorchScorer(model, 2), OnnxScorer(onnx_file, 2)
    torch_scorer(crops, {}), onnx_scorer(crops, {})
    assert np.allclose(torch_scorer.cams([0, 2, 4], {}), onnx_scorer.cams([0, 2, 4], {}), atol=1e-4)


def test_onnx_backend_never_imports_torch(checkpoint, onnx_file, clips):
    code = ("import sys; from ml.inference import Predictor; "
            f"p = Predictor.load({str(checkpoint)!r}, backend='onnx'); "
            f"r = p.predict({str(clips['face'])!r}, frames=4); "
            "assert r.status == 'ok', r; assert 'torch' not in sys.modules, 'torch was imported'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_card_is_read_from_a_fresh_onnx_export_without_torch(checkpoint, onnx_file):
    code = ("import sys; from ml.inference.backends import read_card; "
            f"card = read_card({str(checkpoint)!r}); "
            "assert card['version'] == 'untrained-seed0', card; assert 'torch' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_a_stale_onnx_file_is_not_used(checkpoint, onnx_file, tmp_path):
    other = tmp_path / "other.pt"
    init_untrained(other, seed=1)
    (tmp_path / "other.onnx").write_bytes(onnx_file.read_bytes())  # an export of different weights
    assert Predictor.load(other, backend="onnx").version == "untrained-seed1"


# -- command line ----------------------------------------------------------------------------------
def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ml.detect", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def test_cli_json_contract(clips, checkpoint):
    paths = [clips["face"], clips["text"], clips["no_face"], clips["image"]]
    proc = run_cli("--json", "--frames", "8", "--checkpoint", str(checkpoint), *map(str, paths))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["path"] for r in rows] == [str(p) for p in paths]
    assert all(tuple(r) == JSON_KEYS for r in rows)
    assert [r["status"] for r in rows] == ["ok", "error", "no_face", "ok"]
    assert [r["kind"] for r in rows] == ["video", "video", "video", "image"]
    assert rows[0]["frames_analysed"] == 8 and rows[0]["label"] in ("fake", "real")
    assert rows[1]["score"] is None and "not a supported" in rows[1]["error"]
    assert "Traceback" not in proc.stderr


def test_cli_human_output_and_bad_arguments(clips, checkpoint):
    proc = run_cli("--frames", "4", "--checkpoint", str(checkpoint), str(clips["face"]))
    assert proc.returncode == 0 and proc.stdout.count("\n") == 1 and "score" in proc.stdout
    assert run_cli("--frames", "0", "x").returncode == 2
    assert run_cli().returncode == 2
