"""The dev run: every item of ``data/dev`` (media nobody here made) through the full inference path
(``sample_frames`` -> ``FaceFinder.track`` -> ``crop_face`` -> model; the item's score is its most
suspicious face track's), videos and images apart, per method, and a robustness table with each
condition applied to the media (videos re-encoded as files with libx264; 360p is the whole frame
scaled to 360 lines). Faces are found once on the clean media and reused under each condition, so the
table measures the classifier rather than the face finder."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ml.evaluation.own_split import add_drops
from ml.inference.sequence import score_sequence, shipped
from ml.media import degradations
from ml.media.decode import read_image, sample_frames
from ml.media.faces import FaceFinder, crop_face
from ml.metrics import auc_by_group, binary_metrics, roc_auc, rounded
from ml.training.prepare import read_labels, reencoded_path


def analyse_frames(model, finder, frames: list[np.ndarray], size: int, margin: float, card: dict | None = None,
                   kind: str = "video", tracks=None, scale: float = 1.0) -> dict | None:
    """The inference path on RGB frames: tracks (found here unless given), crops, scores; the item's
    score is its most suspicious track's. ``scale`` maps given tracks' landmarks onto resized frames.
    None when no face is found."""
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
    return read_labels(root)


def evaluate_dev(model, card: dict, root: Path, *, conditions: list[str], n_frames: int = 32,
                 limit_images: int | None = None, limit_videos: int | None = None, log=print) -> dict:
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
        except Exception:  # a face finder crash on a strange file: no face, recorded as such
            tracks = []
        for c in conditions:
            try:
                scale = 1.0
                if c.startswith("h264") and row["kind"] == "video":
                    re_encoded = reencoded_path(row["path"], degradations.ROBUSTNESS[c]["crf"])
                    if not re_encoded.exists():
                        degradations.h264_file(path, str(tmp / "re.mp4"), degradations.ROBUSTNESS[c]["crf"])
                        re_encoded.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(tmp / "re.mp4", re_encoded)
                    frames = [f.image for f in sample_frames(str(re_encoded), n_frames)]
                else:
                    frames = list(degradations.perturb_frames(np.stack(base) if len({f.shape for f in base}) == 1 else base[0][None],
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
            row_out[f"{kind}_auc"] = rounded(roc_auc(y, [r["score"] for r in ok])) if ok else None
            row_out[f"{kind}_accuracy"] = rounded(np.mean((np.array([r["score"] for r in ok]) >= threshold) == y)) if ok else None
            row_out[f"{kind}_auc_lstm"] = rounded(roc_auc(y, [r["lstm"] for r in ok])) if ok else None
            row_out[f"{kind}_auc_mean"] = rounded(roc_auc(y, [r["mean"] for r in ok])) if ok else None
            row_out[f"{kind}_counts"] = counts
        out["robustness"][condition] = row_out
    add_drops(out["robustness"])
    return out
