"""Evaluate a checkpoint: ``python -m ml.evaluate --checkpoint PATH``.

Two separate reports, never mixed:

- **own test split**: held-out identities of ``data/train`` with the project's pseudo-fakes
  (self-blended, face swaps, steady / flickering sequences) and the labelled fake photos; crops from
  the ``ml.training.prepare`` cache; frame-level and clip-level, per method, and a robustness table on clips
  (a real libx264 re-encode of the crop sequence at CRF 23 and 35, JPEG 90 and 50, the face as small as
  in a 360p frame, blur, noise, brightness +-30%).
- **dev** (``data/dev``, media nobody here made): every video and image through the full inference
  path (``sample_frames`` -> ``FaceFinder.track`` -> ``crop_face`` -> model; the item's score is its
  highest face track's), videos and images separately, per method, and the same robustness table with
  the perturbation applied to the media (videos re-encoded as files with libx264; 360p is the whole
  frame scaled to 360 lines); faces are found once on the clean media and reused under each condition,
  so the table measures the classifier rather than the face finder.

Metrics: accuracy, precision, recall, F1 at the card's threshold, ROC AUC, confusion matrix, ECE.
Both clip rules are reported: ``lstm`` (sigmoid of the clip logit, what the card ships) and ``mean``
(mean of the frame probabilities). Writes ``eval.json``, ``eval.md`` and ``roc.png`` to ``--out-dir``;
``--update-card`` stores the results in the checkpoint's card, ``--model-card PATH`` writes the
Markdown model card.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from ml.paths import WEIGHTS_DIR


# ------------------------------------------------------------------------------------------ metrics
def roc_curve(y, scores):
    """(fpr, tpr, thresholds), thresholds descending; ties handled as one step."""
    y, s = np.asarray(y).astype(int), np.asarray(scores, float)
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tps = np.cumsum(y)[distinct]
    fps = (distinct + 1) - tps
    pos, neg = max(y.sum(), 1), max(len(y) - y.sum(), 1)
    return np.r_[0, fps / neg], np.r_[0, tps / pos], np.r_[np.inf, s[distinct]]


def roc_auc(y, scores) -> float:
    """Area under the ROC curve (ties count one half); nan without both classes."""
    y = np.asarray(y).astype(int)
    if len(y) == 0 or y.min() == y.max():
        return float("nan")
    fpr, tpr, _ = roc_curve(y, scores)
    return float(np.trapezoid(tpr, fpr))


def ece(y, scores, bins: int = 10) -> float:
    """Expected calibration error of P(fake) over equal-width bins."""
    y, s = np.asarray(y, float), np.asarray(scores, float)
    if len(y) == 0:
        return float("nan")
    idx = np.minimum((s * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            total += sel.mean() * abs(s[sel].mean() - y[sel].mean())
    return float(total)


def binary_metrics(y, scores, threshold: float = 0.5) -> dict:
    y, s = np.asarray(y).astype(int), np.asarray(scores, float)
    pred = (s >= threshold).astype(int)
    tp, tn = int(((pred == 1) & (y == 1)).sum()), int(((pred == 0) & (y == 0)).sum())
    fp, fn = int(((pred == 1) & (y == 0)).sum()), int(((pred == 0) & (y == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    r = lambda v: None if v != v else round(float(v), 4)  # noqa: E731  (nan -> None for JSON)
    return {"n": int(len(y)), "positives": int(y.sum()), "threshold": threshold,
            "accuracy": r((tp + tn) / max(len(y), 1)), "precision": r(precision), "recall": r(recall), "f1": r(f1),
            "roc_auc": r(roc_auc(y, s)), "ece": r(ece(y, s)),
            "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp}}


def auc_by_group(y, scores, groups) -> dict:
    """Per fake method: AUC of that method's fakes against all reals; per real group: its share
    scored fake at 0.5 and mean score."""
    y, s, g = np.asarray(y), np.asarray(scores, float), np.asarray(groups)
    out = {}
    for name in sorted(set(g.tolist())):
        sel = g == name
        entry = {"n": int(sel.sum()), "mean_score": round(float(s[sel].mean()), 4)}
        if y[sel].min() == 1:
            entry["auc_vs_all_real"] = _r(roc_auc(np.r_[y[y == 0], y[sel]], np.r_[s[y == 0], s[sel]]))
        out[name] = entry
    return out


def _r(v):
    return None if v is None or v != v else round(float(v), 4)


# ------------------------------------------------------------------------------------------ scoring
def _torch():
    import torch

    return torch


def score_sequence(model, crops_uint8: np.ndarray) -> dict:
    """Per-frame probabilities and both clip scores for one face track (T x S x S x 3 uint8)."""
    torch = _torch()
    from ml.models.registry import preprocess

    with torch.no_grad():
        feats = model.embed(preprocess(torch.from_numpy(np.ascontiguousarray(crops_uint8))))
        frames = torch.sigmoid(model.frame_logits(feats))
        clip = torch.sigmoid(model.clip_logits(feats[None]))[0]
    frames = frames.numpy()
    return {"frames": frames, "lstm": float(clip), "mean": float(frames.mean())}


def shipped(card: dict, r: dict, kind: str) -> float:
    """The score ml.inference.predictor reports: an image's frame probability, a video's clip rule, calibrated
    by the card's calibration (the scale its threshold is on)."""
    from ml.training.calibration import calibrate

    if kind == "image":
        raw = float(r["frames"][0]) if "frames" in r else r["mean"]
    else:
        rule = card.get("clip_rule", "lstm")
        from ml.inference.predictor import CLIP_RULES

        raw = CLIP_RULES[rule](np.asarray(r["frames"], float), r["lstm"])
    return float(calibrate(card, [raw], "image" if kind == "image" else "video")[0])


def resize_all(crops: np.ndarray, size: int) -> np.ndarray:
    if crops.shape[1] == size:
        return crops
    return np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops])


# ------------------------------------------------------------------------------------ own test split
def evaluate_own(model, card: dict, *, cache: Path | None, n_frames: int, n_clips: int, n_robust: int,
                 robustness: bool, seed: int = 7, log=print) -> dict:
    from ml.training import augment, data as D

    size = card["preprocessing"]["input_size"]
    cfg = card.get("config", {})
    bank = D.CropBank.load(cache, "test", seed=cfg.get("seed", 0), fractions=tuple(cfg.get("split_fractions", (0.7, 0.15, 0.15))))
    out: dict = {"data": bank.summary()}
    threshold = card["threshold"]
    rocs = {}
    for label, degrade in (("clean", 0.0), ("train_degradations", 1.0)):
        x, y, methods = D.fixed_frames(bank, n_frames, size, seed=seed, degrade=degrade)
        s = np.concatenate([score_sequence(model, x[i:i + 64])["frames"] for i in range(0, len(x), 64)])
        out[f"frames_{label}"] = binary_metrics(y, s, threshold) | {"by_method": auc_by_group(y, s, methods)}
        rocs[f"own test frames ({label})"] = (y, s)
        log(f"own test frames {label}: AUC {out[f'frames_{label}']['roc_auc']}")
    rng = np.random.default_rng(seed + 1)
    ys, lstm, mean, kinds, methods, ship = [], [], [], [], [], []
    for i in range(n_clips):
        kind = "image" if rng.random() < 0.3 else "video"
        crops, method = D.make_sequence(bank, rng, size, fake=i % 2 == 1, kind=kind, degrade=1.0)
        r = score_sequence(model, crops)
        ys.append(i % 2)
        ship.append(shipped(card, r, kind))
        lstm.append(r["lstm"])
        mean.append(r["mean"])
        kinds.append(kind)
        methods.append(method)
    ys, lstm, mean, kinds, ship = map(np.array, (ys, lstm, mean, kinds, ship))
    out["clips"] = {}
    for kind in ("video", "image", "all"):
        sel = kinds == kind if kind != "all" else np.ones(len(ys), bool)
        out["clips"][kind] = {"shipped": binary_metrics(ys[sel], ship[sel], threshold),
                              "lstm": binary_metrics(ys[sel], lstm[sel], threshold),
                              "mean": binary_metrics(ys[sel], mean[sel], threshold)}
    out["clips"]["by_method_shipped"] = auc_by_group(ys, ship, methods)
    rocs["own test video clips (shipped rule)"] = (ys[kinds == "video"], ship[kinds == "video"])
    log(f"own test clips: video AUC lstm {out['clips']['video']['lstm']['roc_auc']} mean {out['clips']['video']['mean']['roc_auc']}")
    if robustness:
        out["robustness"] = own_robustness(model, card, bank, size, threshold, n_robust, seed + 2, log)
    return out, rocs


def own_robustness(model, card: dict, bank, size: int, threshold: float, n: int, seed: int, log=print) -> dict:
    """Video clips (raw crops at the cache size, no training degradations), each condition applied to
    the crop sequence, then resized to the model input."""
    from ml.training import augment, data as D

    rng = np.random.default_rng(seed)
    raw = []
    for i in range(n):
        crops, method = D.make_sequence(bank, rng, bank.items[0].crops.shape[1], fake=i % 2 == 1, kind="video",
                                        degrade=0.0, clean_raw=True)
        raw.append((crops, i % 2, method))
    table = {}
    for condition in augment.ROBUSTNESS:
        y, lstm, mean, frames_y, frames_s, ship = [], [], [], [], [], []
        for crops, label, _ in raw:
            seq = resize_all(augment.perturb_frames(crops, condition, seed=seed), size)
            r = score_sequence(model, seq)
            y.append(label)
            ship.append(shipped(card, r, "video"))
            lstm.append(r["lstm"])
            mean.append(r["mean"])
            frames_y += [label] * len(seq)
            frames_s += list(r["frames"])
        table[condition] = {"clip_auc_shipped": _r(roc_auc(y, ship)), "clip_auc_lstm": _r(roc_auc(y, lstm)),
                            "clip_auc_mean": _r(roc_auc(y, mean)), "frame_auc": _r(roc_auc(frames_y, frames_s)),
                            "clip_accuracy_shipped": _r(np.mean((np.array(ship) >= threshold) == np.array(y)))}
        log(f"own robustness {condition}: {table[condition]}")
    _add_drops(table)
    return table


def _add_drops(table: dict) -> None:
    clean = table.get("clean", {})
    for cond, row in table.items():
        for key in [k for k in row if k.endswith(("auc_lstm", "auc_mean", "frame_auc", "_auc", "auc_shipped"))]:
            if clean.get(key) is not None and row.get(key) is not None:
                row[f"drop_{key}"] = round(clean[key] - row[key], 4)


# ---------------------------------------------------------------------------------------------- dev
def analyse_frames(model, finder, frames: list[np.ndarray], size: int, margin: float, card: dict | None = None,
                   kind: str = "video", tracks=None, scale: float = 1.0) -> dict | None:
    """The inference path on RGB frames: tracks (found here unless given), crops, scores; the item's
    score is its most suspicious track's. ``scale`` maps given tracks' landmarks onto resized frames.
    None when no face is found."""
    from ml.media.faces import crop_face

    tracks = finder.track(frames) if tracks is None else tracks
    best = None
    for track in tracks:
        positions = sorted(track.faces)
        if not positions:
            continue
        crops = np.stack([crop_face(frames[p], track.faces[p].landmarks * scale, size, margin)[0] for p in positions])
        r = score_sequence(model, crops)
        r["shipped"] = shipped(card or {}, r, kind)
        if best is None or r["shipped"] > best["shipped"]:
            best = r | {"faces": len(positions), "tracks": len(tracks)}
    return best


def dev_items(root: Path) -> list[dict]:
    from ml.training.prepare import read_labels

    return read_labels(root)


def reencoded_path(rel_path: str, crf: int) -> Path:
    """Where a dev video re-encoded at ``crf`` is cached (libx264 veryfast, yuv420p; derived data)."""
    from ml.training.prepare import REPO, item_key

    return REPO / "cache" / "dev_h264" / f"{item_key(rel_path)}-crf{crf}.mp4"


def evaluate_dev(model, card: dict, root: Path, *, conditions: list[str], n_frames: int = 32,
                 limit_images: int | None = None, limit_videos: int | None = None, log=print) -> dict:
    from ml.training import augment
    from ml.media.faces import FaceFinder
    from ml.media.decode import read_image, sample_frames

    size, margin = card["preprocessing"]["input_size"], card["preprocessing"]["margin"]
    finder = FaceFinder()
    items = dev_items(root)
    videos = [r for r in items if r["kind"] == "video"][:limit_videos]
    images = [r for r in items if r["kind"] == "image"][:limit_images]
    items = videos + images
    results = {c: [] for c in conditions}
    started = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="dev-eval-"))
    for n, row in enumerate(items, 1):
        path = str(root / row["path"])
        try:
            base = [f.image for f in sample_frames(path, n_frames)] if row["kind"] == "video" else [read_image(path)]
        except Exception as exc:  # recorded, not fatal
            for c in conditions:
                results[c].append(row | {"status": "error", "error": str(exc)})
            continue
        # Faces are found once, on the clean media, and reused under every condition (scaled for 360p):
        # the table measures the classifier, not the face finder (whose misses show as no_face here).
        try:
            tracks = finder.track(base)
        except Exception as exc:
            tracks = []
        for c in conditions:
            try:
                scale = 1.0
                if c.startswith("h264") and row["kind"] == "video":
                    re_encoded = reencoded_path(row["path"], augment.ROBUSTNESS[c]["crf"])
                    if not re_encoded.exists():
                        augment.h264_file(path, str(tmp / "re.mp4"), augment.ROBUSTNESS[c]["crf"])
                        re_encoded.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(tmp / "re.mp4", re_encoded)
                    frames = [f.image for f in sample_frames(str(re_encoded), n_frames)]
                else:
                    frames = list(augment.perturb_frames(np.stack(base) if len({f.shape for f in base}) == 1 else base[0][None],
                                                         c, seed=n)) if c != "clean" else base
                if frames[0].shape[:2] != base[0].shape[:2]:
                    scale = frames[0].shape[0] / base[0].shape[0]
                r = analyse_frames(model, finder, frames, size, margin, card, row["kind"], tracks=tracks, scale=scale) if tracks else None
            except Exception as exc:
                results[c].append(row | {"status": "error", "error": f"{type(exc).__name__}: {exc}"})
                continue
            if r is None:
                results[c].append(row | {"status": "no_face"})
            else:
                results[c].append(row | {"status": "ok", "score": r["shipped"], "lstm": r["lstm"], "mean": r["mean"], "faces": r["faces"],
                                         "frame_scores": [round(float(v), 4) for v in r["frames"]]})
        if n % 25 == 0 or row["kind"] == "video":
            log(f"dev {n}/{len(items)} ({time.time() - started:.0f} s) {row['path']}: "
                f"{ {c: round(results[c][-1].get('lstm', -1), 3) for c in conditions[:3]} }")
    return summarise_dev(results, card["threshold"])


def summarise_dev(results: dict, threshold: float) -> dict:
    out = {"items": results.get("clean", []), "robustness": {}}
    for condition, rows in results.items():
        row_out = {}
        for kind in ("video", "image"):
            ok = [r for r in rows if r["kind"] == kind and r["status"] == "ok"]
            y = np.array([r["label"] == "fake" for r in ok], int)
            counts = {"ok": len(ok), "no_face": sum(r["kind"] == kind and r["status"] == "no_face" for r in rows),
                      "error": sum(r["kind"] == kind and r["status"] == "error" for r in rows)}
            if condition == "clean":
                for rule in ("score", "lstm", "mean"):
                    s = np.array([r[rule] for r in ok], float)
                    out[f"{kind}_{rule}"] = binary_metrics(y, s, threshold) | {
                        "counts": counts, "by_method": auc_by_group(y, s, [r["method"] for r in ok]),
                        "by_source": auc_by_group(y, s, [r["source"] for r in ok])}
            row_out[f"{kind}_auc"] = _r(roc_auc(y, [r["score"] for r in ok])) if ok else None
            row_out[f"{kind}_accuracy"] = _r(np.mean((np.array([r["score"] for r in ok]) >= threshold) == y)) if ok else None
            row_out[f"{kind}_auc_lstm"] = _r(roc_auc(y, [r["lstm"] for r in ok])) if ok else None
            row_out[f"{kind}_auc_mean"] = _r(roc_auc(y, [r["mean"] for r in ok])) if ok else None
            row_out[f"{kind}_counts"] = counts
        out["robustness"][condition] = row_out
    _add_drops(out["robustness"])
    return out


# --------------------------------------------------------------------------------------- reporting
def roc_plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    for name, (y, s) in curves.items():
        y = np.asarray(y)
        if len(y) == 0 or y.min() == y.max():
            continue
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc(y, s):.3f}, n={len(y)})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _m(d: dict | None, key="roc_auc"):
    return "n/a" if not d or d.get(key) is None else f"{d[key]:.3f}"


def markdown(card: dict, report: dict) -> str:
    lines = [f"# Evaluation of `{card['version']}`", "",
             f"Threshold {card['threshold']}; video score = clip rule `{card.get('clip_rule', 'lstm')}`, image score = its frame probability (as `ml.inference.predictor` scores).", ""]
    own, dev = report.get("own"), report.get("dev")
    lines += ["## Issue targets", "", "| target | measured | met |", "|---|---|---|"]
    def target(name, value, ok):
        lines.append(f"| {name} | {'n/a' if value is None else value} | {'n/a' if value is None else ('yes' if ok(value) else 'no')} |")
    if own:
        target("own pseudo-fake test ROC AUC >= 0.98 (clean frames)", own["frames_clean"]["roc_auc"], lambda v: v >= 0.98)
        target("own pseudo-fake test ROC AUC >= 0.98 (video clips, shipped rule)", own["clips"]["video"]["shipped"]["roc_auc"], lambda v: v >= 0.98)
        rob = own.get("robustness", {}).get("h264_crf35", {})
        target("own test AUC drop at H.264 CRF 35 <= 0.05 (video clips)", rob.get("drop_clip_auc_shipped"), lambda v: v <= 0.05)
    if dev:
        target("dev video AUC >= 0.85", (dev.get("video_score") or {}).get("roc_auc"), lambda v: v >= 0.85)
        target("dev image AUC >= 0.85", (dev.get("image_score") or {}).get("roc_auc"), lambda v: v >= 0.85)
        rob = dev.get("robustness", {}).get("h264_crf35", {})
        target("dev video AUC drop at H.264 CRF 35 <= 0.05", rob.get("drop_video_auc"), lambda v: v <= 0.05)
    lines.append("")
    if own:
        lines += ["## Own test split (held-out identities, pseudo-fakes)", "",
                  "| set | n | AUC | accuracy | precision | recall | F1 | ECE |", "|---|---|---|---|---|---|---|---|"]
        for name, m in [("frames, clean", own["frames_clean"]), ("frames, training degradations", own["frames_train_degradations"]),
                        (f"video clips, shipped rule ({card.get('clip_rule')})", own["clips"]["video"]["shipped"]),
                        ("video clips, LSTM", own["clips"]["video"]["lstm"]), ("video clips, mean of frames", own["clips"]["video"]["mean"]),
                        ("images (frame probability, shipped)", own["clips"]["image"]["shipped"])]:
            lines.append(f"| {name} | {m['n']} | {_m(m)} | {_m(m, 'accuracy')} | {_m(m, 'precision')} | {_m(m, 'recall')} | {_m(m, 'f1')} | {_m(m, 'ece')} |")
        lines += ["", "Per method (clean frames; fakes: AUC against all real crops; reals: mean score):", "",
                  "| method | n | mean score | AUC vs real |", "|---|---|---|---|"]
        for k, v in own["frames_clean"]["by_method"].items():
            lines.append(f"| {k} | {v['n']} | {v['mean_score']:.3f} | {v.get('auc_vs_all_real', '')} |")
        c = own["frames_clean"]["confusion"]
        lines += ["", f"Confusion (clean frames, threshold {card['threshold']}): TN {c['tn']}, FP {c['fp']}, FN {c['fn']}, TP {c['tp']}", ""]
        if own.get("robustness"):
            lines += ["### Robustness (own test video clips; the condition applied to the crop sequence, H.264 = real libx264 encode)", "",
                      "| condition | clip AUC (shipped rule) | drop | clip accuracy | clip AUC (LSTM) | clip AUC (mean) | frame AUC | drop |",
                      "|---|---|---|---|---|---|---|---|"]
            for cond, r in own["robustness"].items():
                lines.append(f"| {cond} | {r['clip_auc_shipped']} | {r.get('drop_clip_auc_shipped', '')} | {r['clip_accuracy_shipped']} | "
                             f"{r['clip_auc_lstm']} | {r['clip_auc_mean']} | {r['frame_auc']} | {r.get('drop_frame_auc', '')} |")
            lines.append("")
    if dev:
        lines += ["## Dev (`data/dev`: media nobody here made; full inference path)", "",
                  "| set | rule | n | no face | AUC | accuracy | precision | recall | F1 | ECE |", "|---|---|---|---|---|---|---|---|---|---|"]
        for kind in ("video", "image"):
            for rule in ("score", "lstm", "mean"):
                m = dev.get(f"{kind}_{rule}")
                if m:
                    name = f"shipped ({card.get('clip_rule') if kind == 'video' else 'frame probability'})" if rule == "score" else rule
                    lines.append(f"| {kind}s | {name} | {m['n']} | {m['counts']['no_face']} | {_m(m)} | {_m(m, 'accuracy')} | "
                                 f"{_m(m, 'precision')} | {_m(m, 'recall')} | {_m(m, 'f1')} | {_m(m, 'ece')} |")
        for kind in ("video", "image"):
            m = dev.get(f"{kind}_score")
            if m:
                c = m["confusion"]
                lines += ["", f"{kind}s (shipped score) confusion: TN {c['tn']}, FP {c['fp']}, FN {c['fn']}, TP {c['tp']}", "",
                          f"| {kind} method | n | mean score | AUC vs all real {kind}s |", "|---|---|---|---|"]
                for k, v in m["by_method"].items():
                    lines.append(f"| {k} | {v['n']} | {v['mean_score']:.3f} | {v.get('auc_vs_all_real', '')} |")
        if dev.get("robustness"):
            lines += ["", "### Robustness (dev; H.264 = the file re-encoded with libx264 veryfast; others applied to the sampled frames; face tracks from the clean media reused)", "",
                      "| condition | video AUC | drop | video accuracy | video AUC (LSTM) | video AUC (mean) | image AUC | drop | image accuracy | no face (videos/images) |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            for cond, r in dev["robustness"].items():
                lines.append(f"| {cond} | {r.get('video_auc')} | {r.get('drop_video_auc', '')} | {r.get('video_accuracy')} | {r.get('video_auc_lstm')} | "
                             f"{r.get('video_auc_mean')} | {r.get('image_auc')} | {r.get('drop_image_auc', '')} | {r.get('image_accuracy')} | "
                             f"{r['video_counts']['no_face']}/{r['image_counts']['no_face']} |")
        lines += ["", "Per video (clean):", "", "| video | label | method | shipped score | LSTM | mean of frames |", "|---|---|---|---|---|---|"]
        for r in dev["items"]:
            if r["kind"] == "video":
                ok = r["status"] == "ok"
                lines.append(f"| {Path(r['path']).name} | {r['label']} | {r['method']} | {round(r['score'], 3) if ok else r['status']} | "
                             f"{round(r['lstm'], 3) if ok else ''} | {round(r['mean'], 3) if ok else ''} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    from ml.training import augment
    from ml.training.checkpoint import load_checkpoint
    from ml.training.prepare import REPO, data_root

    parser = argparse.ArgumentParser(prog="python -m ml.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=REPO / "ml" / "weights" / "detector.pt")
    parser.add_argument("--out-dir", type=Path, default=None, help="default runs/eval-<version>")
    parser.add_argument("--cache", type=Path, default=None, help="crop cache of ml.training.prepare")
    parser.add_argument("--test-frames", type=int, default=1000)
    parser.add_argument("--test-clips", type=int, default=200)
    parser.add_argument("--robust-clips", type=int, default=60)
    parser.add_argument("--no-own", action="store_true")
    parser.add_argument("--no-dev", action="store_true")
    parser.add_argument("--no-robustness", action="store_true")
    parser.add_argument("--dev-conditions", default=",".join(augment.ROBUSTNESS), help="comma-separated")
    parser.add_argument("--dev-images", type=int, default=None, help="only the first N dev images")
    parser.add_argument("--dev-videos", type=int, default=None, help="only the first N dev videos")
    parser.add_argument("--frames", type=int, default=32, help="frames per dev video")
    parser.add_argument("--update-card", action="store_true", help="store the results in the checkpoint's card")
    parser.add_argument("--model-card", type=Path, default=None, help="write the Markdown model card here")
    parser.add_argument("--dev-eval-json", type=Path, default=None,
                        help="ml.evaluation.dev_eval's JSON for this checkpoint: its dev figures go into the card and the report")
    args = parser.parse_args(argv)

    torch = _torch()
    torch.set_num_threads(2)
    model, card = load_checkpoint(args.checkpoint)
    out_dir = args.out_dir or REPO / "runs" / f"eval-{card['version']}"
    out_dir.mkdir(parents=True, exist_ok=True)
    logfh = open(out_dir / "eval.log", "a")

    def log(msg):
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        logfh.write(line + "\n")
        logfh.flush()

    report, curves = {"checkpoint": str(args.checkpoint), "version": card["version"], "threshold": card["threshold"]}, {}
    if not args.no_own:
        report["own"], rocs = evaluate_own(model, card, cache=args.cache, n_frames=args.test_frames, n_clips=args.test_clips,
                                           n_robust=args.robust_clips, robustness=not args.no_robustness, log=log)
        curves.update(rocs)
    if not args.no_dev:
        conditions = ["clean"] + ([c for c in args.dev_conditions.split(",") if c and c != "clean"] if not args.no_robustness else [])
        dev = evaluate_dev(model, card, data_root() / "dev", conditions=conditions, n_frames=args.frames,
                           limit_images=args.dev_images, limit_videos=args.dev_videos, log=log)
        report["dev"] = dev
        for kind in ("video", "image"):
            ok = [r for r in dev["items"] if r["kind"] == kind and r["status"] == "ok"]
            curves[f"dev {kind}s (shipped)"] = ([r["label"] == "fake" for r in ok], [r["score"] for r in ok])
            if kind == "video":
                curves["dev videos (mean of frames)"] = ([r["label"] == "fake" for r in ok], [r["mean"] for r in ok])
    if args.dev_eval_json:
        rows = [r for r in json.loads(args.dev_eval_json.read_text()) if r["version"] == card["version"]]
        if rows:
            report["dev_cached"] = {k: rows[0][k] for k in ("video", "image", "cam", "own_test_frame_auc") if k in rows[0]}
    (out_dir / "eval.json").write_text(json.dumps(report, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    (out_dir / "eval.md").write_text(markdown(card, report))
    roc_plot(curves, out_dir / "roc.png")
    log(f"wrote {out_dir}/eval.json, eval.md, roc.png")
    if args.update_card:
        update_card(args.checkpoint, report)
        log(f"updated the card in {args.checkpoint}")
    if args.model_card:
        _, card = load_checkpoint(args.checkpoint)
        args.model_card.write_text(model_card_markdown(card, report, out_dir))
        log(f"wrote {args.model_card}")


def _rel(path: Path) -> str:
    from ml.training.prepare import REPO

    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _retrain_line(card: dict) -> str:
    """How to make these weights again: one run, or a run continued from an earlier one (the config
    files are named in the card's ``config_files`` when the run recorded them)."""
    evaluate = ("`python -m ml.evaluate --checkpoint ml/weights/detector.pt --update-card "
                "--model-card ml/weights/MODEL_CARD.md`")
    files = card.get("config_files") or ["ml/configs/default.json", "ml/configs/default.json"]
    first = f"`python -m ml.training.prepare && python -m ml.train --config {files[0]}"
    parent = card.get("initialised_from")
    if not parent:
        return f"{first}` then {evaluate}"
    minutes = card.get("config", {}).get("max_minutes")
    parent_minutes = (parent.get("config") or {}).get("max_minutes")
    return (f"{first} --max-minutes {parent_minutes} --out runs/first.pt && python -m ml.train --config "
            f"{files[-1]} --init-from runs/first.pt --max-minutes {minutes}` (this model continued "
            f"`{parent['version']}`, whose own run was {((parent.get('training') or {}).get('wall_minutes'))} min), "
            f"then {evaluate}")


def model_card_markdown(card: dict, report: dict, eval_dir: Path) -> str:
    """The shipped MODEL_CARD.md: what the weights are, how they were made, what they score."""
    cfg = card.get("config", {})
    tr = card.get("training", {})
    s1, s2 = tr.get("stage1", {}), tr.get("stage2", {})
    data = card.get("training_data", {})
    summary = data.get("summary", {})
    lines = [
        f"# Model card: `{card['version']}`", "",
        f"- Date: {card.get('date')} · git commit at training: `{card.get('git_commit')}`",
        f"- Model: `{cfg.get('model', {}).get('name')}` {json.dumps(cfg.get('model', {}).get('args', {}))}",
        f"- Input: {card['preprocessing']['input_size']} px RGB face crops from `ml.media.faces.crop_face` (margin "
        f"{card['preprocessing']['margin']}, eyes level), normalised with mean {card['preprocessing']['mean']} / std {card['preprocessing']['std']}; up to {card['preprocessing']['frames']} frames per clip",
        f"- Output: per-frame P(fake) = sigmoid(frame logit); a video's P(fake) = clip rule `{card.get('clip_rule')}` over its face track (lstm = sigmoid(clip logit) of the LSTM; mean_frames = mean frame probability); an image's = its frame probability; the item's score is its most suspicious face track's",
        f"- Threshold: {card['threshold']} ({card.get('threshold_rule', '')})",
        f"- Retrain: {_retrain_line(card)}",
        "", "## Data", "",
        f"- {data.get('source')}.",
        f"- Pseudo-fakes: {data.get('pseudo_fakes')}.",
        f"- Splits: {data.get('splits')}.",
        "- **No real face-swap or reenactment video was trained on**: all manipulated faces in training are the project's own "
        "pseudo-fakes, plus the labelled StyleGAN2 and Photoshop fake photos of `data/train`.",
        "- Research-use data (FaceForensics++/DFDC samples, HDTF, MEAD, VoxCeleb2, UTKFace, Kaggle sets): see `../shared/data/README.md`.",
        "", "| split | pool | items | crops | identities |", "|---|---|---|---|---|"]
    for split, pools in summary.items():
        for pool, v in pools.items():
            lines.append(f"| {split} | {pool} | {v['items']} | {v['crops']} | {v['identities']} |")
    lines += ["", "## Training", "",
              f"- Device: {tr.get('device')} ({tr.get('threads')} threads; host CPUs {tr.get('host_cpus')}, shared with other work), wall time {tr.get('wall_minutes')} min, seed {cfg.get('seed')}.",
              f"- Stage 1 (CNN + frame head on crops): {s1.get('steps')} steps, {s1.get('samples_seen')} samples, {s1.get('minutes')} min; "
              f"best validation frame AUC {s1.get('best_val_auc')} at step {s1.get('best_step')}. AdamW lr {cfg.get('lr')}, wd {cfg.get('weight_decay')}, "
              f"batch {cfg.get('batch_size')}, cosine over the time budget, degradations on both classes (strength {cfg.get('degrade')}).",
              f"- Stage 2 (LSTM + clip head on frozen crop features): {s2.get('train_clips')} train / {s2.get('val_clips')} validation clips, "
              f"{s2.get('minutes')} min; validation clip AUC LSTM {s2.get('val_clip_auc_lstm')} vs mean of frame probabilities {s2.get('val_clip_auc_mean_frame_prob')} "
              f"(videos: {s2.get('val_video_auc_lstm')} vs {s2.get('val_video_auc_mean_frame_prob')}; images: {s2.get('val_image_auc_lstm')} vs {s2.get('val_image_auc_mean_frame_prob')}).",
              "", "Validation history (stage 1):", "", "| step | minutes | val AUC | by method |", "|---|---|---|---|"]
    for h in s1.get("history", []):
        lines.append(f"| {h['step']} | {h['minutes']} | {h['val_auc']} | {h['val_auc_by_method']} |")
    cal = card.get("calibration") or {}
    if cal:
        lines += ["", "## Calibration", "",
                  f"- {cal.get('method')}; fitted on {cal.get('fitted_on')}, never on dev.",
                  *[f"- {kind}: temperature {cal[kind]['temperature']}, bias {cal[kind]['bias']} (n={cal[kind].get('n')})"
                    for kind in ("video", "image") if kind in cal],
                  f"- Validation ECE {cal.get('ece_before')} raw -> {cal.get('ece_after')} calibrated (in-sample); log loss "
                  f"{cal.get('log_loss_before')} -> {cal.get('log_loss_after')}. The own test split's ECE (out of sample) is "
                  "in the evaluation below. The portal's confidence is the calibrated probability of the stated verdict."]
    ablation = WEIGHTS_DIR / "evaluation" / "ablation.md"
    if ablation.exists():
        lines += ["", "## Ablation", "", ablation.read_text().strip()]
    net = card["preprocessing"].get("network_input") or {}
    pretrained = net.get("weights") and net.get("weights") != "random initialisation"
    lines += ["", "## Limitations", "",
              (f"- Backbone `{net.get('backbone')}` pretrained on {net.get('weights')}, fine-tuned on 2 shared CPU cores "
               f"for {tr.get('wall_minutes')} min in this run: it has seen {s1.get('samples_seen')} training crops here. "
               "Treat a verdict as a screening signal, never as proof.") if pretrained else
              "- Trained from random weights on 2 shared CPU cores: a small network that has seen a few hundred thousand "
              "crops at most. Treat a verdict as a screening signal, never as proof.",
              "- It has never seen a real face swap or reenactment; it learned blending and colour inconsistencies "
              "from pseudo-fakes. Reenactment methods that leave no blending boundary (Face2Face, NeuralTextures, "
              "talking-head generators) are the expected weak spots.",
              "- The dev set is tiny (a handful of videos per class): its video AUC moves a lot with one clip.",
              "- Faces the dlib HOG finder misses (small or turned faces) give `no_face`, not a verdict.",
              "", markdown(card, report).replace("# Evaluation of", "## Evaluation of"),
              *dev_cached_markdown(report.get("dev_cached")),
              f"Full evaluation output: `{_rel(eval_dir)}` (eval.json, eval.md, roc.png), regenerated by `python -m ml.evaluate`.", ""]
    return "\n".join(lines)


def dev_cached_markdown(dev: dict | None) -> list[str]:
    """The dev figures of ``ml.evaluation.dev_eval`` (the inference path's face crops, cached once) as card lines."""
    if not dev:
        return []
    v, i = dev["video"], dev["image"]
    lines = ["## Dev: media nobody here made (`python -m ml.evaluation.dev_eval`)", "",
             f"- Videos (n={v['n']}, {v['fake']} fake): ROC AUC {v['auc']} [95% bootstrap {v['ci95'][0]}-{v['ci95'][1]}] "
             f"with the shipped clip rule, {v.get('auc_mean_frames')} by the mean of frame scores; after an H.264 CRF 35 "
             f"re-encode {v['auc_crf35']} (drop {v['crf35_drop']}).",
             f"- Images (n={i['n']}, {i['fake']} fake): ROC AUC {i['auc']} [95% bootstrap {i['ci95'][0]}-{i['ci95'][1]}].", "",
             "| dev method | n | mean score | AUC vs all real |", "|---|---|---|---|"]
    for kind in ("video", "image"):
        for name, e in dev[kind]["by_method"].items():
            lines.append(f"| {kind}: {name} | {e['n']} | {e['mean_score']} | {e.get('auc_vs_all_real', '')} |")
    if dev.get("cam"):
        lines += ["", "Grad-CAM mass on the face (central 2/3 of the aligned crop) on dev crops: " +
                  ", ".join(f"{k} {v['mean_share_on_face']} ({v['crops']} crops)" for k, v in dev["cam"].items())]
    return lines + [""]


def compact(report: dict) -> dict:
    """The headline numbers for the checkpoint's card (no per-item rows)."""
    out = {}
    own = report.get("own")
    if own:
        out["test"] = {"frames_clean": {k: v for k, v in own["frames_clean"].items() if k != "by_method"},
                       "frames_clean_by_method": own["frames_clean"]["by_method"],
                       "frames_train_degradations_auc": own["frames_train_degradations"]["roc_auc"],
                       "video_clips_shipped": own["clips"]["video"]["shipped"], "video_clips_lstm_auc": own["clips"]["video"]["lstm"]["roc_auc"],
                       "video_clips_mean_auc": own["clips"]["video"]["mean"]["roc_auc"], "images_shipped": own["clips"]["image"]["shipped"]}
        if own.get("robustness"):
            out["test_robustness"] = own["robustness"]
    if report.get("dev_cached"):
        out["dev_cached_crops"] = report["dev_cached"]
    dev = report.get("dev")
    if dev:
        out["dev"] = {k: {kk: vv for kk, vv in v.items() if kk not in ("by_source",)} for k, v in dev.items()
                      if k.endswith(("_lstm", "_mean"))}
        out["dev_robustness"] = dev["robustness"]
    return out


def update_card(path: Path, report: dict) -> None:
    torch = _torch()
    from ml.training.checkpoint import save_checkpoint
    from ml.models.registry import build_model

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(ckpt["model"]["name"], **ckpt["model"]["args"])
    model.load_state_dict(ckpt["state_dict"])
    card = dict(ckpt["card"])
    card["metrics"] = {**card.get("metrics", {}), **compact(report)}
    card["evaluated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # date and commit stay the training's
    save_checkpoint(path, model, model_spec=ckpt["model"], card=card)


if __name__ == "__main__":
    sys.exit(main())
