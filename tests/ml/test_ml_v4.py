"""Detector v4: a clip score a reader can check, tuned LayerNorms that survive saving, batches with pairs."""
import numpy as np
import pytest
import torch

from ml.clip_rules import CLIP_RULES
from ml.inference.predictor import Predictor
from ml.models.clip_detector import ClipLSTM
from ml.paths import DEFAULT_CHECKPOINT
from ml import calibration
from ml.models.checkpoint import load_checkpoint, save_checkpoint
from ml.training.ln_train import LNRecipe, draw_batches


@pytest.fixture(scope="module")
def shipped_card():
    return torch.load(DEFAULT_CHECKPOINT, map_location="cpu", weights_only=True)["card"]


def clip_score(card, frame_probs, lstm_prob=0.5):
    """The shipped card's clip score, calibrated, from raw frame probabilities (as Predictor makes it)."""
    raw = CLIP_RULES[card.get("clip_rule", "lstm")](np.asarray(frame_probs), lstm_prob)
    return float(calibration.calibrate(card, [raw], "video")[0])


def test_the_shipped_clip_rule_is_monotone_in_frame_scores(shipped_card):
    assert shipped_card["clip_rule"] in ("mean_frames", "topk_frames"), "v4 ships a rule of frame scores alone"
    rng = np.random.default_rng(0)
    threshold = shipped_card["threshold"]
    for _ in range(2000):
        raw = rng.uniform(0.001, 0.999, rng.integers(1, 9))
        calibrated = calibration.calibrate(shipped_card, raw, "video")
        score = clip_score(shipped_card, raw, lstm_prob=float(rng.uniform()))
        if (calibrated >= threshold).all():
            assert score >= threshold
        if (calibrated < threshold).all():
            assert score < threshold
        # raising one frame's score never lowers the clip's
        bumped = raw.copy()
        bumped[rng.integers(len(raw))] = min(0.999, bumped.max() + 0.1)
        assert clip_score(shipped_card, bumped) >= clip_score(shipped_card, raw) - 1e-12


def test_clip_parts_say_how_the_score_was_made(shipped_card):
    predictor = Predictor.__new__(Predictor)
    predictor.card, predictor.threshold = shipped_card, shipped_card["threshold"]
    probs = np.array([0.2, 0.9, 0.95, 0.1])
    parts = predictor.clip_parts(probs, 0.7, 0.6)
    assert parts["frame_mean"] == pytest.approx(probs.mean(), abs=1e-6)
    assert parts["topk_mean"] == pytest.approx(0.95, abs=1e-6)
    assert parts["frames_above"] == 2 and parts["frames"] == 4 and parts["rule"] == shipped_card["clip_rule"]
    assert parts["temporal"] is None  # the shipped rule uses no temporal model


def test_the_old_rule_with_an_lstm_could_contradict_its_frames():
    """Why v4 changed the rule: v3's mean of LSTM and frame mean put a clip whose frames are all fake under 0.5."""
    v3 = {"clip_rule": "mean_lstm_frames", "threshold": 0.5}
    frames = np.array([0.61, 0.7, 0.97, 0.8])
    assert clip_score(v3, frames, lstm_prob=0.05) < 0.5 <= frames.min()


def test_tuned_layernorms_are_saved_with_the_head_and_loaded_back(tmp_path, shipped_card):
    model = ClipLSTM(layer=8, tuned_blocks=(7, 8), pretrained=False)
    with torch.no_grad():
        model.encoder.blocks[7].norm1.weight.add_(0.25)
        model.encoder.blocks[6].norm2.bias.add_(-0.5)
        model.encoder.blocks[2].norm1.weight.add_(9.0)  # not tuned: must not be saved
    state = model.head_state()
    assert "encoder.blocks.7.norm1.weight" in state and "encoder.blocks.6.norm2.bias" in state
    assert not any(k.startswith("encoder.blocks.2.") for k in state)
    spec = {"name": "clip_lstm", "args": {"layer": 8, "tuned_blocks": [7, 8]}}
    path = tmp_path / "v4.pt"
    save_checkpoint(path, model, model_spec=spec, card={"version": "t", "preprocessing": {}, "threshold": 0.5,
                                                        "encoder": shipped_card["encoder"]})
    loaded, _ = load_checkpoint(path)
    assert torch.equal(loaded.encoder.blocks[7].norm1.weight, model.encoder.blocks[7].norm1.weight)
    assert torch.equal(loaded.encoder.blocks[6].norm2.bias, model.encoder.blocks[6].norm2.bias)
    assert not torch.equal(loaded.encoder.blocks[2].norm1.weight, model.encoder.blocks[2].norm1.weight)


class _Bank:
    def __init__(self):
        self.rows = [{"group": g} for g in ("a", "a", "b", "c", "c")]
        self.owner = np.repeat(np.arange(5), 4)
        self.label = np.array([0, 1, 1, 0, 1], np.float32).repeat(4)
        self.kind = np.array(["video"] * 20)


def test_batches_hold_real_and_fake_of_one_source():
    bank = _Bank()
    batches = draw_batches(bank, LNRecipe("t", per_epoch=64, batch=16), np.random.default_rng(0))
    assert len(batches) == 4
    groups = np.array([bank.rows[o]["group"] for o in bank.owner])
    for b in batches:
        paired = b[:8]  # batch // 8 groups, 2 real and 2 fake crops each
        for k in range(0, 8, 4):
            chunk = paired[k:k + 4]
            assert len(set(groups[chunk])) == 1 and groups[chunk][0] in ("a", "c")
            assert sorted(bank.label[chunk]) == [0, 0, 1, 1]
    unpaired = draw_batches(bank, LNRecipe("t", per_epoch=64, batch=16, pairs=False), np.random.default_rng(0))
    assert all(len(b) == 16 for b in unpaired)
