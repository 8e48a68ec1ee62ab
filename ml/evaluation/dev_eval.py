"""Fast dev scoring for comparing recipes: ``python -m ml.evaluation.dev_eval CKPT [CKPT ...]``.

``ml.evaluation.evaluate`` runs every dev item through the whole inference path (decode, faces, crops) for each
model, most of it the same work every time. Here the face crops of ``data/dev`` are made once, by the
same functions inference uses (``sample_frames`` -> ``FaceFinder.track`` -> ``crop_face``), for the clean
media and for the videos re-encoded with libx264 at CRF 35, and cached in ``cache/dev_crops/``; a
checkpoint is then scored on them in about a minute. Printed per model: dev video and image ROC AUC with
a bootstrap 95% interval (resampling items), the AUC by method, and the AUC drop at CRF 35.

Dev is for comparing recipes, never for training or for picking a threshold.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ml.metrics import auc_by_group, bootstrap_auc, roc_auc

CONDITIONS = ("clean", "h264_crf35")
CACHE_SIZE = 160  # crops are cached at this side; a model with another input size gets them resized


def cache_path(size: int, margin: float) -> Path:
    from ml.training.prepare import REPO

    return REPO / "cache" / "dev_crops" / f"s{size}-m{margin}.npz"


def build_cache(size: int, margin: float, *, frames: int = 32, root: Path | None = None, log=print) -> Path:
    """Crops of every dev item's face tracks (clean; videos also at CRF 35), once."""
    from ml.media import degradations
    from ml.training.prepare import reencoded_path
    from ml.media.faces import FaceFinder, crop_face
    from ml.media.decode import read_image, sample_frames
    from ml.training.prepare import data_root, read_labels

    out = cache_path(size, margin)
    if out.exists():
        return out
    root = root or data_root() / "dev"
    finder = FaceFinder()
    arrays, meta = {}, []
    tmp = Path(tempfile.mkdtemp(prefix="dev-crops-"))
    started = time.time()
    rows = read_labels(root)
    for n, row in enumerate(rows):
        path = str(root / row["path"])
        entry = row | {"index": n, "tracks": {}}
        try:
            base = [f.image for f in sample_frames(path, frames)] if row["kind"] == "video" else [read_image(path)]
            tracks = [t for t in finder.track(base) if t.faces]
        except Exception as exc:  # recorded, not fatal
            meta.append(entry | {"status": "error", "error": f"{type(exc).__name__}: {exc}"})
            continue
        if not tracks:
            meta.append(entry | {"status": "no_face"})
            continue
        conditions = CONDITIONS if row["kind"] == "video" else CONDITIONS[:1]
        for condition in conditions:
            images, scale = base, 1.0
            if condition != "clean":
                crf = degradations.ROBUSTNESS[condition]["crf"]
                re_encoded = reencoded_path(row["path"], crf)
                if not re_encoded.exists():
                    degradations.h264_file(path, str(tmp / "re.mp4"), crf)
                    re_encoded.parent.mkdir(parents=True, exist_ok=True)
                    (tmp / "re.mp4").replace(re_encoded)
                images = [f.image for f in sample_frames(str(re_encoded), frames)]
                scale = images[0].shape[0] / base[0].shape[0]
            for t, track in enumerate(tracks):
                positions = [p for p in sorted(track.faces) if p < len(images)]
                crops = np.stack([crop_face(images[p], track.faces[p].landmarks * scale, size, margin)[0]
                                  for p in positions])
                arrays[f"{n}/{condition}/{t}"] = crops
        entry["tracks"] = len(tracks)
        meta.append(entry | {"status": "ok"})
        if row["kind"] == "video" or n % 50 == 0:
            log(f"dev crops {n + 1}/{len(rows)} ({time.time() - started:.0f} s) {row['path']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, meta=np.array(json.dumps(meta)), **arrays)
    return out


def score_checkpoint(ckpt: Path, cache: Path | None = None, *, threads: int = 2, cam: bool = False) -> dict:
    """Dev AUCs of one checkpoint on the cached crops, scored as ``ml.inference.predictor`` scores them (the
    card's clip rule for videos, the frame probability for images, highest track wins)."""
    import torch

    from ml.models.checkpoint import load_checkpoint
    from ml.inference.sequence import resize_all, score_sequence, shipped

    torch.set_num_threads(threads)
    model, card = load_checkpoint(ckpt)
    pre = card["preprocessing"]
    cache = cache or build_cache(CACHE_SIZE, pre["margin"])
    size = int(pre["input_size"])
    started = time.time()
    with np.load(cache) as z:
        meta = json.loads(str(z["meta"]))
        crops = {k: z[k] for k in z.files if k != "meta"}
    rows = {c: [] for c in CONDITIONS}
    for entry in meta:
        if entry["status"] != "ok":
            continue
        for condition in CONDITIONS:
            keys = [k for k in crops if k.startswith(f"{entry['index']}/{condition}/")]
            if not keys:
                continue
            scored = [score_sequence(model, resize_all(crops[k], size)) for k in keys]
            best = max(shipped(card, r, entry["kind"]) for r in scored)
            rows[condition].append({"kind": entry["kind"], "y": int(entry["label"] == "fake"),
                                    "method": entry["method"], "source": entry["source"],
                                    "score": best, "mean_frames": max(r["mean"] for r in scored)})
    out = {"checkpoint": str(ckpt), "version": card["version"], "seconds": round(time.time() - started, 1),
           "own_test_frame_auc": own_test_auc(model, card)}
    if cam:
        out["cam"] = cam_locations(model, card, cache)
    s1 = (card.get("training") or {}).get("stage1") or {}
    out["training"] = {"minutes": (card.get("training") or {}).get("wall_minutes"), "samples": s1.get("samples_seen"),
                       "best_val_frame_auc": s1.get("best_val_auc")}
    for kind in ("video", "image"):
        clean = [r for r in rows["clean"] if r["kind"] == kind]
        y, s = np.array([r["y"] for r in clean]), np.array([r["score"] for r in clean])
        auc = roc_auc(y, s)
        lo, hi = bootstrap_auc(y, s)
        out[kind] = {"n": len(y), "fake": int(y.sum()), "auc": round(auc, 4), "ci95": [round(lo, 4), round(hi, 4)],
                     "by_method": auc_by_group(y, s, [r["method"] for r in clean])}
        if kind == "video":  # the clip rule aside: the frame model alone
            out[kind]["auc_mean_frames"] = round(roc_auc(y, [r["mean_frames"] for r in clean]), 4)
            crf = [r for r in rows["h264_crf35"] if r["kind"] == kind]
            auc35 = roc_auc([r["y"] for r in crf], [r["score"] for r in crf])
            out[kind]["auc_crf35"] = round(auc35, 4)
            out[kind]["crf35_drop"] = round(auc - auc35, 4)
    return out


def face_fraction(maps: np.ndarray) -> np.ndarray:
    """Share of each Grad-CAM map's mass inside the crop's central square of side 2/3: an aligned crop
    (margin 1.5) holds the face's landmark extent there; the rest is hair, neck, collar, background."""
    n = maps.shape[-1]
    lo, hi = round(n / 6), round(5 * n / 6)
    total = maps.reshape(len(maps), -1).sum(1) + 1e-8
    return maps[:, lo:hi, lo:hi].reshape(len(maps), -1).sum(1) / total


def cam_locations(model, card: dict, cache: Path | None = None, per_item: int = 4) -> dict:
    """Where the model looks on dev fakes and reals: mean share of Grad-CAM mass on the face (see
    ``face_fraction``), over ``per_item`` frames of each item's first track."""
    import torch

    from ml.inference.gradcam import GradCAM
    from ml.models.builders import preprocess
    from ml.inference.sequence import resize_all

    size = int(card["preprocessing"]["input_size"])
    cache = cache or build_cache(CACHE_SIZE, card["preprocessing"]["margin"])
    shares = {"fake": [], "real": []}
    with np.load(cache) as z:
        meta = json.loads(str(z["meta"]))
        model.eval()
        with GradCAM(model) as cam:
            for entry in meta:
                key = f"{entry['index']}/clean/0"
                if entry["status"] != "ok" or key not in z.files:
                    continue
                crops = resize_all(z[key], size)
                crops = crops[np.linspace(0, len(crops) - 1, min(per_item, len(crops))).astype(int)]
                maps = cam(preprocess(torch.from_numpy(np.ascontiguousarray(crops))))
                shares[entry["label"]] += face_fraction(maps).tolist()
    return {label: {"crops": len(v), "mean_share_on_face": round(float(np.mean(v)), 4)} for label, v in shares.items() if v}


def own_test_auc(model, card: dict, n: int = 600, seed: int = 7) -> float:
    """Frame AUC on clean crops of the own test split (held-out identities; pseudo-fakes and the
    labelled fake photos), the same fixed draw as ``ml.evaluation.evaluate``'s first ``n`` frames."""
    from ml.training import data as D
    from ml.inference.sequence import score_sequence

    cfg = card.get("config", {})
    bank = D.CropBank.load(None, "test", seed=cfg.get("seed", 0), fractions=tuple(cfg.get("split_fractions", (0.7, 0.15, 0.15))))
    x, y, _ = D.fixed_frames(bank, n, card["preprocessing"]["input_size"], seed=seed, degrade=0.0)
    s = np.concatenate([score_sequence(model, x[i:i + 64])["frames"] for i in range(0, len(x), 64)])
    return round(roc_auc(y, s), 4)


def markdown_rows(results: list[dict], labels: list[str]) -> str:
    """Ablation table rows: label, own test AUC, dev video AUC [95%], dev image AUC [95%], CRF 35 drop,
    minutes and samples trained."""
    lines = ["| run | own test frame AUC | dev video AUC [95% CI] | dev video AUC, mean of frames | dev image AUC [95% CI] | "
             "CRF 35 drop (video) | minutes | samples |", "|---|---|---|---|---|---|---|---|"]
    for label, r in zip(labels, results):
        v, i, t = r["video"], r["image"], r["training"]
        lines.append(f"| {label} | {r['own_test_frame_auc']} | {v['auc']} [{v['ci95'][0]}-{v['ci95'][1]}] | "
                     f"{v.get('auc_mean_frames')} | {i['auc']} "
                     f"[{i['ci95'][0]}-{i['ci95'][1]}] | {v['crf35_drop']} | {t['minutes']} | {t['samples']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.evaluation.dev_eval", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--labels", default=None, help="comma-separated row labels for --markdown")
    parser.add_argument("--markdown", type=Path, default=None, help="write an ablation table here")
    parser.add_argument("--cam", action="store_true", help="also measure the share of Grad-CAM mass on the face")
    args = parser.parse_args(argv)
    results = []
    for ckpt in args.checkpoints:
        r = score_checkpoint(ckpt, cam=args.cam)
        results.append(r)
        v, i = r["video"], r["image"]
        print(f"{r['version']}: own test frame AUC {r['own_test_frame_auc']}; dev video AUC {v['auc']} [{v['ci95'][0]}-{v['ci95'][1]}] (n={v['n']}), "
              f"mean of frames {v['auc_mean_frames']}, CRF35 {v['auc_crf35']} (drop {v['crf35_drop']}); dev image AUC {i['auc']} "
              f"[{i['ci95'][0]}-{i['ci95'][1]}] (n={i['n']}) ({r['seconds']} s)", flush=True)
        print("  video by method: " + json.dumps(v["by_method"]), flush=True)
        print("  image by method: " + json.dumps(i["by_method"]), flush=True)
        if args.cam:
            print("  Grad-CAM share on the face (dev crops): " + json.dumps(r["cam"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.markdown:
        labels = args.labels.split(",") if args.labels else [r["version"] for r in results]
        args.markdown.write_text(markdown_rows(results, labels))


if __name__ == "__main__":
    sys.exit(main())
