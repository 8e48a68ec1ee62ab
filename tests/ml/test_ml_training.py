"""Training side of the detector: pseudo-fakes, degradations, splits, a tiny training run, metrics.

Fast (seconds): synthetic faces with a template of 68 landmarks; the split test reads
``../shared/data/train/labels.csv`` and fails (not skips) when env ``CI`` is set and the data is missing.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.media import degradations
from ml.training import pseudofakes as pf
from ml.training import data as D
from ml.metrics import auc_by_group, binary_metrics, ece, roc_auc
from ml.training.prepare import data_root, read_labels


def template_landmarks(size: int) -> np.ndarray:
    """A frontal 68-point layout roughly where ``crop_face`` puts a face in a ``size`` crop."""
    c, r = size / 2, size * 0.3
    t = np.linspace(np.pi * 0.05, np.pi * 0.95, 17)
    jaw = np.c_[c - r * np.cos(t), c + r * 0.2 + r * 0.9 * np.sin(t) - r * 0.4]
    brows = np.c_[np.r_[np.linspace(c - r * 0.8, c - r * 0.15, 5), np.linspace(c + r * 0.15, c + r * 0.8, 5)], np.full(10, c - r * 0.55)]
    nose = np.c_[np.r_[np.full(4, c), np.linspace(c - r * 0.25, c + r * 0.25, 5)], np.r_[np.linspace(c - r * 0.4, c, 4), np.full(5, c + r * 0.1)]]
    eye = lambda x: np.c_[x + r * 0.2 * np.cos(np.linspace(0, 2 * np.pi, 6, endpoint=False)),  # noqa: E731
                          c - r * 0.3 + r * 0.08 * np.sin(np.linspace(0, 2 * np.pi, 6, endpoint=False))]
    mouth = np.c_[c + r * 0.4 * np.cos(np.linspace(0, 2 * np.pi, 20, endpoint=False)),
                  c + r * 0.45 + r * 0.12 * np.sin(np.linspace(0, 2 * np.pi, 20, endpoint=False))]
    pts = np.concatenate([jaw, brows, nose, eye(c - r * 0.45), eye(c + r * 0.45), mouth]).astype(np.float32)
    assert pts.shape == (68, 2)
    return pts


def synthetic_face(size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = (rng.random((size, size, 3)) * 60 + 40).astype(np.uint8)
    cv2.ellipse(img, (size // 2, size // 2), (int(size * 0.3), int(size * 0.38)), 0, 0, 360,
                tuple(int(v) for v in rng.integers(120, 220, 3)), -1)
    return cv2.GaussianBlur(img, (3, 3), 0)


SIZE = 64


# ------------------------------------------------------------------------------------- pseudo-fakes
def test_self_blend_shape_mask_and_untouched_outside():
    img, pts = synthetic_face(SIZE), template_landmarks(SIZE)
    rng = np.random.default_rng(0)
    params = pf.SBIParams.draw(rng, SIZE)
    params.source_first, params.ratio = True, 1.0
    params.mask.elastic, params.mask.erode = 0.0, 0
    fake, mask = pf.self_blend(img, pts, params=params)
    assert fake.shape == img.shape and fake.dtype == np.uint8
    assert mask.shape == img.shape[:2] and mask.dtype == np.float32
    assert 0 <= mask.min() and mask.max() <= 1 and mask.max() > 0.5
    assert mask[0, 0] == 0 and mask[-1, -1] == 0  # corners are background
    assert mask[int(pts[30, 1]), int(pts[30, 0])] > 0.5  # the nose tip is inside
    outside = mask == 0
    assert np.array_equal(fake[outside], img[outside])  # only the masked face changed
    assert np.abs(fake.astype(int) - img).sum() > 0


def test_self_blend_random_draws_are_valid():
    img, pts = synthetic_face(SIZE), template_landmarks(SIZE)
    rng = np.random.default_rng(1)
    for _ in range(20):
        fake, mask = pf.self_blend(img, pts, rng)
        assert fake.shape == img.shape and mask.shape == img.shape[:2]
        assert np.isfinite(mask).all() and mask.min() >= 0 and mask.max() <= 1


@pytest.mark.parametrize("warp", ["similarity", "piecewise"])
@pytest.mark.parametrize("blending", ["alpha", "poisson"])
def test_face_swap_shapes(warp, blending):
    target, donor = synthetic_face(SIZE, 1), synthetic_face(SIZE, 2)
    pts = template_landmarks(SIZE)
    donor_pts = pts * 0.95 + 2
    params = pf.SwapParams(mask=pf.MaskParams(region="face", blur=5), warp=warp, blending=blending)
    fake, mask = pf.face_swap(target, pts, donor, donor_pts, params=params)
    assert fake.shape == target.shape and fake.dtype == np.uint8
    assert mask.shape == target.shape[:2] and mask.max() > 0.5 and mask[0, 0] == 0
    assert not np.array_equal(fake, target)


def test_face_swap_region_masks_are_smaller_than_face():
    pts = template_landmarks(SIZE)
    face = pf.hull_mask(pts, (SIZE, SIZE), "face").sum()
    for region in ("mouth", "eyes", "nose_mouth"):
        assert 0 < pf.hull_mask(pts, (SIZE, SIZE), region).sum() < face


@pytest.mark.parametrize("mode", ["steady", "flicker"])
@pytest.mark.parametrize("method", ["sbi", "swap"])
def test_fake_sequence(mode, method):
    crops = np.stack([synthetic_face(SIZE, i) for i in range(5)])
    pts = np.stack([template_landmarks(SIZE)] * 5)
    seq = pf.fake_sequence(crops, pts, np.random.default_rng(0), mode, method, donor=(crops[::-1], pts))
    assert seq.shape == crops.shape and seq.dtype == np.uint8
    assert not np.array_equal(seq, crops)


# ------------------------------------------------------------------------------------- degradations
def test_degradations_keep_shape_and_dtype():
    img = synthetic_face(SIZE)
    rng = np.random.default_rng(0)
    for _ in range(10):
        out = degradations.Degradation.draw(rng).apply(img)
        assert out.shape == img.shape and out.dtype == np.uint8
    assert degradations.jpeg(img, 50).shape == img.shape
    for condition in degradations.ROBUSTNESS:
        if condition.startswith("h264"):
            continue
        assert degradations.perturb_frames(img[None], condition).shape == (1, SIZE, SIZE, 3)


def test_jpeg_treats_input_as_rgb():
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 200
    out = degradations.jpeg(red, 95)
    assert out[..., 0].mean() > 150 and out[..., 2].mean() < 50


def test_h264_sequence_round_trip():
    frames = np.stack([synthetic_face(SIZE, i) for i in range(4)])
    out = degradations.h264_sequence(frames, 35)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - frames).mean() < 40


# -------------------------------------------------------------------------------------------- splits
def test_identity_merges_known_repeats():
    rec = lambda path, kind="video": {"path": path, "source": path.split("/")[0], "kind": kind}  # noqa: E731
    assert D.identity(rec("FuxiVirtualHuman_styletalk/a/Obama_clip1.mp4")) == D.identity(rec("tanshuai0219_EDTalk/t/uncrop_Obama.mp4"))
    assert D.identity(rec("ali-vilab_dreamtalk/x/W009_front_sad_level3_001.mp4")) == D.identity(rec("ali-vilab_dreamtalk/x/W009_front_fear_level3_001.mp4"))
    assert D.identity(rec("FuxiVirtualHuman_styletalk/s/furious_talk1_clip2.mp4")) == D.identity(rec("FuxiVirtualHuman_styletalk/s/furious_talk2_clip5.mp4"))
    assert D.identity(rec("KwaiVGI_LivePortrait/d/d0.mp4")) != D.identity(rec("KwaiVGI_LivePortrait/d/d10.mp4"))


def _train_labels():
    path = data_root() / "train" / "labels.csv"
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the training data is missing: {path}")
        pytest.skip(f"no training data at {path}")
    return read_labels(data_root() / "train")


def test_splits_have_no_identity_overlap():
    records = _train_labels()
    splits = D.assign_splits(records)
    by_split: dict[str, set] = {s: set() for s in D.SPLITS}
    for r in records:
        by_split[splits[D.identity(r)]].add(D.identity(r))
    assert not (by_split["train"] & by_split["val"]) and not (by_split["train"] & by_split["test"])
    assert not (by_split["val"] & by_split["test"])
    videos = {s: sum(1 for r in records if r["kind"] == "video" and splits[D.identity(r)] == s) for s in D.SPLITS}
    assert all(v > 0 for v in videos.values()), videos
    obama = {splits[D.identity(r)] for r in records if "obama" in r["path"].lower()}
    assert len(obama) == 1  # one person, one split


# ----------------------------------------------------------------------------------- tiny training
def _tiny_cache(root: Path, size: int = 48) -> Path:
    folder = root / "train"
    folder.mkdir(parents=True)
    pts = template_landmarks(size)
    rows = []
    specs = [("video", "real", "camera footage", 6)] * 12 + [("image", "real", "UTKFace aligned photo", 1)] * 12 + \
            [("image", "real", "real photo", 1)] * 8 + [("image", "fake", "StyleGAN2", 1)] * 6 + \
            [("image", "fake", "expert photoshop", 1)] * 6
    for i, (kind, label, method, n) in enumerate(specs):
        key = f"item{i}"
        crops = np.stack([synthetic_face(size, i * 10 + k) for k in range(n)])
        np.savez(folder / f"{key}.npz", crops=crops, landmarks=np.stack([pts] * n), frames=np.arange(n))
        ext = "mp4" if kind == "video" else "jpg"
        rows.append({"path": f"src{i % 3}/{key}.{ext}", "label": label, "kind": kind, "method": method,
                     "source": f"src{i % 3}", "key": key, "status": "ok", "n": n})
    (folder / "index.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_tiny_training_run_saves_a_loadable_checkpoint(tmp_path):
    from ml.training import train
    from ml.models.checkpoint import load_checkpoint

    cache = _tiny_cache(tmp_path / "cache")
    cfg = train.merge(train.DEFAULTS, {
        "model": {"name": "cnn_lstm", "args": {"backbone": "resnet_narrow", "backbone_args": {"widths": [8, 8, 16, 16], "blocks": 1},
                                                "lstm_hidden": 8}},
        "input_size": 32, "batch_size": 4, "max_minutes": 0.04, "stage2_minutes": 0.02, "val_every_minutes": 1,
        "val_size": 8, "num_workers": 0, "warmup_steps": 1, "run_dir": str(tmp_path / "run"),
        "stage2": {"train_clips": 6, "val_clips": 6, "image_fraction": 0.3, "epochs": 2, "lr": 1e-3, "batch_size": 2}})
    out = tmp_path / "tiny.pt"
    card = train.run(cfg, out, cache=cache)
    model, loaded = load_checkpoint(out)
    assert loaded["version"] == card["version"] and 0 <= loaded["threshold"] <= 1
    assert loaded["preprocessing"]["input_size"] == 32
    assert {"config", "training_data", "metrics", "training"} <= set(loaded)
    assert loaded["training"]["stage1"]["steps"] >= 1
    import torch

    with torch.no_grad():
        result = model(torch.zeros(1, 3, 3, 32, 32))
    assert result["frame_logits"].shape == (1, 3) and result["clip_logit"].shape == (1,)
    splits = json.loads((tmp_path / "run" / "splits.json").read_text())
    assert not set(splits["train"]) & set(splits["val"]) and not set(splits["train"]) & set(splits["test"])


# ------------------------------------------------------------------------------------------- metrics
def test_metrics_on_toy_input():
    y = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.7, 0.6, 0.8, 0.9])
    # pairs (pos, neg) correctly ordered: 0.6 beats 0.1, 0.2 only; 0.8 and 0.9 beat all three -> 8 / 9
    assert roc_auc(y, s) == pytest.approx(8 / 9)
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert np.isnan(roc_auc([1, 1], [0.2, 0.3]))
    m = binary_metrics(y, s, 0.5)
    assert m["confusion"] == {"tn": 2, "fp": 1, "fn": 0, "tp": 3}
    assert m["accuracy"] == pytest.approx(5 / 6, abs=1e-4)
    assert m["precision"] == pytest.approx(0.75) and m["recall"] == pytest.approx(1.0)
    assert m["f1"] == pytest.approx(2 * 0.75 / 1.75, abs=1e-4)
    assert ece([0, 1], [0.0, 1.0]) == pytest.approx(0.0)
    assert ece([0, 0], [0.95, 0.95]) == pytest.approx(0.95)
    groups = auc_by_group(y, s, ["real", "real", "real", "sbi", "swap", "swap"])
    assert groups["sbi"]["auc_vs_all_real"] == pytest.approx(2 / 3, abs=1e-4)
    assert groups["swap"]["auc_vs_all_real"] == pytest.approx(1.0)
    assert groups["real"]["n"] == 3


def _tiny_cfg(tmp_path, train, run: str, **over):
    return train.merge(train.DEFAULTS, {
        "model": {"name": "cnn_lstm", "args": {"backbone": "resnet_narrow", "backbone_args": {"widths": [8, 8, 16, 16], "blocks": 1},
                                                "lstm_hidden": 8}},
        "input_size": 32, "batch_size": 4, "max_minutes": 5, "stage2_minutes": 0.02, "val_every_minutes": 60,
        "val_size": 8, "num_workers": 0, "warmup_steps": 2, "run_dir": str(tmp_path / run), "max_steps": 6,
        "paired": True, "degrade_ramp_samples": 16, "threads": 1,
        "stage2": {"train_clips": 6, "val_clips": 6, "image_fraction": 0.3, "epochs": 2, "lr": 1e-3, "batch_size": 2}} | over)


def test_resume_continues_an_interrupted_run_exactly(tmp_path):
    """A run stopped after 3 of 6 steps (state saved as at a kill) and resumed with ``--resume`` ends
    with the same weights, optimizer moments and sample count as the same run left alone."""
    import torch

    from ml.training import train

    cache = _tiny_cache(tmp_path / "cache")
    whole = train.run(_tiny_cfg(tmp_path, train, "whole"), tmp_path / "whole.pt", cache=cache)
    assert whole["training"]["stage1"]["steps"] == 6
    with pytest.raises(train.Interrupted):
        train.run(_tiny_cfg(tmp_path, train, "split", stop_after_steps=3), tmp_path / "split.pt", cache=cache)
    half = torch.load(tmp_path / "split" / train.STATE, weights_only=True)
    assert half["step"] == 3 and not half["stage1_done"] and not (tmp_path / "split.pt").exists()
    torch.set_num_threads(1)
    train.main(["--resume", str(tmp_path / "split"), "--cache", str(cache)])
    a = torch.load(tmp_path / "whole" / train.STATE, weights_only=True)
    b = torch.load(tmp_path / "split" / train.STATE, weights_only=True)
    assert a["stage1_done"] and b["stage1_done"] and a["step"] == b["step"] == 6 and a["seen"] == b["seen"]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for k, v in a["optimizer"]["state"].items():
        assert torch.equal(v["exp_avg"], b["optimizer"]["state"][k]["exp_avg"])
    assert (tmp_path / "split.pt").exists()


def test_frame_stream_is_a_function_of_position():
    """Draw i of the training stream is the same whoever makes it: what makes resuming exact."""
    items = [D.Item({"path": f"v{i}.mp4", "source": "s", "kind": "video", "label": "real", "method": "m"},
                    np.stack([synthetic_face(48, i * 3 + k) for k in range(3)]), np.stack([template_landmarks(48)] * 3),
                    f"id{i}", "video") for i in range(4)]
    bank = D.CropBank(items)
    full = D.FrameDataset(bank, 32, seed=5, paired=True, ramp=(0.2, 10))
    late = D.FrameDataset(bank, 32, seed=5, paired=True, ramp=(0.2, 10), start=3)
    first = [x for _, (x, _) in zip(range(10), full)]
    resumed = [x for _, (x, _) in zip(range(4), late)]
    for a, b in zip(first[6:], resumed):
        assert torch_equal(a, b)
    assert full.strength(0) == pytest.approx(0.2) and full.strength(10) == pytest.approx(1.0)


def torch_equal(a, b) -> bool:
    return bool((a == b).all())


# ---------------------------------------------------------------------------------- calibration
def test_calibration_fit_recovers_a_known_temperature_and_lowers_ece():
    from ml import calibration

    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 4000)
    y = (rng.random(4000) < calibration.sigmoid(z)).astype(int)  # true P(fake) = sigmoid(z)
    overconfident = calibration.sigmoid(3 * z + 1.5)                # a model that claims far too much
    params = calibration.fit(y, overconfident)
    assert params["temperature"] == pytest.approx(3.0, rel=0.1)
    assert params["bias"] == pytest.approx(1.5, abs=0.3)
    fixed = calibration.apply(params, overconfident)
    assert ece(y, fixed) < 0.03 < ece(y, overconfident)
    assert roc_auc(y, fixed) == pytest.approx(roc_auc(y, overconfident))  # ranking unchanged
    assert np.array_equal(calibration.calibrate({}, overconfident), overconfident)


def test_calibration_tames_a_coin_flip_model():
    """A model at chance that says 0.01 or 0.99 is mapped to about 0.5: it never claims 90%."""
    from ml import calibration

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    s = np.where(rng.random(2000) < 0.5, 0.99, 0.01)
    fixed = calibration.apply(calibration.fit(y, s), s)
    assert np.abs(fixed - 0.5).max() < 0.05


# ------------------------------------------------------------------------- pseudo-fake shortcuts
def test_self_blend_with_an_unjittered_copy_is_the_real_crop():
    """No colour, sharpness or geometry change: whatever the mask and ratio, nothing changes. A
    difference here would be a cue of this code (rounding, borders), not of a face swap."""
    img, pts = synthetic_face(SIZE, 3), template_landmarks(SIZE)
    rng = np.random.default_rng(2)
    for _ in range(10):
        params = pf.SBIParams.draw(rng, SIZE)
        params.hsv, params.rgb, params.contrast, params.sharp = (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 1.0, 0.0
        params.shift, params.zoom = (0.0, 0.0), 1.0
        fake, mask = pf.self_blend(img, pts, params=params)
        assert mask.max() > 0
        assert np.array_equal(fake, img)


def test_pixels_outside_the_mask_are_the_real_crop_for_every_draw():
    img, pts = synthetic_face(SIZE, 4), template_landmarks(SIZE)
    donor = synthetic_face(SIZE, 5)
    rng = np.random.default_rng(3)
    for _ in range(30):
        fake, mask = pf.self_blend(img, pts, rng)
        assert np.array_equal(fake[mask == 0], img[mask == 0])
        fake, mask = pf.face_swap(img, pts, donor, pts * 0.97 + 1, rng)
        assert np.array_equal(fake[mask == 0], img[mask == 0])


# ------------------------------------------------------------------------------------- dev scoring
def test_bootstrap_interval_brackets_the_auc_and_ablation_rows_render():
    from ml.evaluation.dev_eval import markdown_rows
    from ml.metrics import bootstrap_auc

    rng = np.random.default_rng(0)
    y = np.r_[np.ones(40), np.zeros(40)].astype(int)
    s = np.r_[rng.normal(1, 1, 40), rng.normal(0, 1, 40)]
    lo, hi = bootstrap_auc(y, s, n=300)
    assert lo < roc_auc(y, s) < hi and hi - lo < 0.4
    assert np.isnan(bootstrap_auc(np.ones(5), s[:5])[0])
    row = {"own_test_frame_auc": 0.9, "training": {"minutes": 10, "samples": 1000},
           "video": {"auc": 0.7, "ci95": [0.5, 0.85], "crf35_drop": 0.01, "auc_mean_frames": 0.6},
           "image": {"auc": 0.8, "ci95": [0.7, 0.9]}}
    table = markdown_rows([row], ["lite0"])
    assert "| lite0 | 0.9 | 0.7 [0.5-0.85] | 0.6 | 0.8 [0.7-0.9] | 0.01 | 10 | 1000 |" in table


def test_clip_rule_is_chosen_on_validation_and_topk_is_one_of_them():
    from ml.training import train
    from ml.clip_rules import CLIP_RULES, topk_mean

    probs = np.array([0.1, 0.2, 0.9, 0.1, 0.95, 0.1, 0.1, 0.1])
    assert CLIP_RULES["topk_frames"](probs, 0.0) == pytest.approx((0.9 + 0.95) / 2)
    assert topk_mean(probs) == pytest.approx((0.9 + 0.95) / 2)
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(30), np.ones(30)].astype(int)
    kinds = np.array(["image" if i % 6 == 0 else "video" for i in range(60)])  # both classes in each kind
    lstm, mean = rng.random(60), rng.random(60)      # uninformative
    topk = y * 0.5 + rng.random(60) * 0.4             # separates the classes
    choice = train.choose_clip_rule(y, lstm, mean, kinds, topk)
    assert choice["clip_rule"] == "topk_frames" and choice["val_video_auc_by_rule"]["topk_frames"] == 1.0
    assert set(choice["calibration"]) >= {"video", "image", "ece_before", "ece_after"}
    assert 0 <= choice["threshold"] <= 1


def test_face_fraction_of_a_cam_map():
    from ml.evaluation.dev_eval import face_fraction

    maps = np.zeros((2, 12, 12))
    maps[0, 5:7, 5:7] = 1.0      # all on the face
    maps[1, :2, :] = 1.0         # all in the top band (hair, background)
    assert face_fraction(maps).tolist() == pytest.approx([1.0, 0.0])
