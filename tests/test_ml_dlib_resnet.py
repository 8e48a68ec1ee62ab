"""dlib's face-recognition ResNet in PyTorch (ml.models.dlib_resnet): the reader, and descriptors equal to dlib's.

The descriptor test uses real faces from the shared data (../shared/data/train, or $DEEPFAKE_DATA):
missing data skips locally and fails under CI.
"""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from ml.models.dlib_resnet import (
    MEAN_RGB,
    SCALE,
    Affine,
    DatFormatError,
    DlibFaceResNet,
    add_prev,
    check_architecture,
    load_dlib_resnet,
    model_path,
    normalise,
    read_dat,
)
from tests.conftest import require, shared_data_dir

# Real photos from three different sources in the shared data, a few faces from each.
FACE_SOURCES = {"UTKFace aligned photo": 2, "real photo (Yonsei real_and_fake_face)": 2, "Unsplash photo": 2}
MAX_TRIES_PER_SOURCE = 20


@pytest.fixture(scope="module")
def dat_path():
    try:
        path = model_path()
    except FileNotFoundError as exc:
        path = None
        why = str(exc)
    require(path is not None and path.is_file(), f"dlib's face-recognition model not found ({path or why})")
    return path


@pytest.fixture(scope="module")
def dat(dat_path):
    return read_dat(dat_path)


@pytest.fixture(scope="module")
def net(dat):
    return DlibFaceResNet().load_dat(dat).eval()


# -- the reader ----------------------------------------------------------------------------------
def test_reader_consumes_the_whole_file_and_finds_the_architecture(dat, net):
    assert dat.consumed == dat.size  # every byte accounted for
    assert dat.loss["version"] == "loss_metric_2"
    assert dat.input["version"] == "input_rgb_image_sized"
    assert (dat.input["nr"], dat.input["nc"]) == (150, 150)
    assert np.allclose(dat.input["mean_rgb"], MEAN_RGB, atol=1e-4)
    assert len(dat.layers) == dat.records.count("layer") == 108
    assert dat.records.count("tag") == 22  # 14 tag1 + 4 tag2 + 4 skip1
    assert (dat.count("con"), dat.count("affine"), dat.count("fc")) == (29, 29, 1)
    fc = dat.layers[-1]
    assert fc.kind == "fc" and "bias" not in fc.arrays and fc.arrays["weight_in_out"].shape == (256, 128)
    check_architecture(dat)  # every hyper-parameter as in dlib's dnn_face_recognition_ex.cpp
    n_params = sum(p.numel() for p in net.parameters())
    print(f"dlib ResNet parameters: {n_params:,}")
    assert n_params == 5_614_592


def test_reader_rejects_truncated_or_padded_files(dat_path):
    data = dat_path.read_bytes()
    with pytest.raises(DatFormatError):
        read_dat(data[:-100])
    with pytest.raises(DatFormatError):
        check_architecture(read_dat(data + b"\0"))


# -- the module ----------------------------------------------------------------------------------
def test_add_prev_zero_pads_top_left():
    a = torch.ones(1, 32, 4, 4)
    b = torch.full((1, 64, 3, 3), 2.0)
    out = add_prev(a, b)
    assert out.shape == (1, 64, 4, 4)
    assert torch.all(out[:, :32, :3, :3] == 3)
    assert torch.all(out[:, :32, 3, :] == 1) and torch.all(out[:, :32, :, 3] == 1)
    assert torch.all(out[:, 32:, :3, :3] == 2) and torch.all(out[:, 32:, 3, :] == 0)


def test_normalise_matches_dlib_input_layer():
    img = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    x = normalise(img)
    assert x.shape == (1, 3, 5, 7) and x.dtype == torch.float32
    expected = (img.astype(np.float64) - np.array(MEAN_RGB)) * SCALE
    assert np.allclose(x[0].permute(1, 2, 0).numpy(), expected, atol=1e-6)
    assert torch.equal(normalise(torch.from_numpy(np.stack([img, img]))), torch.cat([x, x]))


def test_features_and_fine_tuning(net):
    x = torch.randn(2, 3, 150, 150) * 0.3
    with torch.no_grad():
        fmap = net.features(x)
        assert fmap.shape == (2, net.feature_dim, 2, 2) and net.feature_dim == 256
        assert torch.allclose(net(x), net.fc(fmap.mean(dim=(2, 3))), atol=1e-6)
    affines = [m for m in net.modules() if isinstance(m, Affine)]
    assert len(affines) == 29 and all(m.weight.requires_grad and m.bias.requires_grad for m in affines)
    net.zero_grad()
    net(x).sum().backward()
    assert affines[0].weight.grad is not None and net.conv1.weight.grad is not None
    net.zero_grad()


# -- descriptors equal dlib's --------------------------------------------------------------------
@pytest.fixture(scope="module")
def face_chips(dat_path):
    try:
        import dlib
    except ImportError:
        dlib = None
    require(dlib is not None, "dlib is not installed (pip install dlib-bin)")
    train = shared_data_dir() / "train"
    require((train / "labels.csv").is_file(), f"shared face data not found at {train}")
    landmarks = dat_path.parent / "shape_predictor_5_face_landmarks.dat"
    require(landmarks.is_file(), f"{landmarks} not found")
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(landmarks))
    with open(train / "labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"] == "real" and r["kind"] == "image"]
    chips, names = [], []
    for method, wanted in FACE_SOURCES.items():
        found = tried = 0
        for row in rows:
            if row["method"] != method or found == wanted or tried == MAX_TRIES_PER_SOURCE:
                continue
            tried += 1
            img = dlib.load_rgb_image(str(train / row["path"]))
            faces = detector(img, 1)
            if not faces:
                continue
            chips.append(dlib.get_face_chip(img, predictor(img, faces[0]), size=150, padding=0.25))
            names.append(row["path"])
            found += 1
    assert len(chips) >= 3, f"dlib found only {len(chips)} faces in the shared data"
    return dlib, np.stack(chips), names


def test_descriptors_match_dlib(face_chips, dat_path, net):
    dlib, chips, names = face_chips
    recogniser = dlib.face_recognition_model_v1(str(dat_path))
    ref = np.array([np.array(recogniser.compute_face_descriptor(chip)) for chip in chips])
    with torch.no_grad():
        ours = net(normalise(chips)).double().numpy()
    diff = np.abs(ours - ref).max()
    print(f"max abs diff to dlib over {len(chips)} faces: {diff:.3g}")
    assert ours.shape == (len(chips), 128)
    assert diff < 1e-4, f"max abs diff {diff} ({names})"
    # Two different people (the first and last sources) are far apart: a sanity check on the metric.
    assert np.linalg.norm(ours[0] - ours[-1]) > 0.3


def test_load_dlib_resnet_default_path(dat_path):
    net = load_dlib_resnet()
    assert not net.training
    chip = np.full((150, 150, 3), 128, dtype=np.uint8)
    with torch.no_grad():
        assert net(normalise(chip)).shape == (1, 128)
