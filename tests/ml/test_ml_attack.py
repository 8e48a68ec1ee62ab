"""Attacks on the detector: they stay in their budget and do what they claim."""
import numpy as np
import torch

from ml.evaluation.attack import EVASIONS, fgsm, pgd, summarise, to_pixels
from ml.inference.defences import purify
from ml.models.builders import build_model


def model():
    torch.manual_seed(0)
    return build_model("cnn_lstm", backbone_args={"widths": [8, 16, 16, 16], "blocks": 1}).eval()


def test_attacks_stay_in_the_epsilon_ball_and_lower_the_fake_logit():
    m = model()
    pixels = to_pixels(np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8))
    eps = 4 / 255
    with torch.no_grad():
        clean = m.frame_logits(m.embed((pixels - 0.5) / 0.5))
    for attack in (fgsm, pgd):
        adv = attack(m, pixels, eps)
        assert (adv - pixels).abs().max() <= eps + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1
        with torch.no_grad():
            attacked = m.frame_logits(m.embed((adv - 0.5) / 0.5))
        assert (attacked < clean).all()


def test_success_rate_counts_only_fakes_detected_when_clean():
    real = np.array([0.1, 0.2])
    clean = np.array([0.9, 0.8, 0.3])  # the third was missed anyway
    attacked = np.array([0.2, 0.85, 0.1])
    row = summarise(real, clean, attacked, threshold=0.5)
    assert row["detected_clean"] == 2 and row["success_rate"] == 0.5


def test_evasions_and_purification_keep_the_shape():
    crops = np.random.default_rng(1).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    rng = np.random.default_rng(0)
    for evasion in EVASIONS.values():
        out = evasion(crops, rng)
        assert out.shape == crops.shape and out.dtype == np.uint8
    assert purify(crops, rng).shape == crops.shape
