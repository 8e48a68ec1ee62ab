"""What the CLIP detector's numbers rest on, beyond AUC: ``python -m ml.evaluation.clip_eval CKPT``.

- ``--fidelity``: heatmaps against the truth on dev's aligned pairs. Each Celeb-DF v2 and
  FaceForensics++ fake in ``data/dev`` is read beside the real clip it was made from, at the same frame
  indices, both cropped with the fake's landmarks; where they differ (mean absolute difference per
  16 px patch, Otsu's threshold over the 196 patches) is where the face was changed. Reported: the
  share of heatmap mass inside that region against the region's share of the crop (>= 2x is the aim),
  and a deletion test: greying the heatmap's top 20% of patches must lower the fake logit more than
  greying a random 20%.
- ``--robustness``: dev video AUC (the 42 clips of ``data/dev`` outside its talking-head pool) with every
  clip's cached face crops degraded (H.264 CRF 23/35/40 on the crop sequence, downscaling, blur,
  brightness), 4 frames a clip.
- ``--attack``: white-box FGSM and PGD (10 steps) at eps 2/255 and 4/255 on face crops of the test
  split's fakes that the model flags, aiming at "real"; the success rate is the share turned "real".

Writes ``<out-dir>/clip_eval.json`` and prints every figure.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ml.models.checkpoint import load_checkpoint
from ml.models.clip_detector import cams_from_scores
from ml.metrics import roc_auc
from ml.models.builders import preprocess

PAIRS = [  # (fake, real) relative to data/dev
    *[(f"ToniHantschmann_deepfake_detector/assets/videos/deepfake/{f}.mp4",
       f"ToniHantschmann_deepfake_detector/assets/videos/real/{r}.mp4")
      for f, r in (("id13_id10_0011", "id13_0011"), ("id16_id6_0012", "id16_0012"), ("id29_id23_0000", "id29_0000"))],
    *[(f"mudouble_FaceForensics-Detection_Website/media/in_out_videos/manipulate/{m}/c40/videos/{a}_{b}.mp4",
       f"mudouble_FaceForensics-Detection_Website/media/in_out_videos/original/youtube/c40/videos/{a}.mp4")
      for m in ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures") for a, b in (("183", "253"), ("253", "183"))],
]


def _x(crops: np.ndarray) -> torch.Tensor:
    return preprocess(torch.from_numpy(np.ascontiguousarray(crops)))


def otsu(values: np.ndarray) -> float:
    v = np.sort(values.ravel())
    best, thr = -1.0, float(v[len(v) // 2])
    for t in np.unique(v)[:-1]:
        lo, hi = v[v <= t], v[v > t]
        between = len(lo) * len(hi) * (lo.mean() - hi.mean()) ** 2
        if between > best:
            best, thr = between, float(t)
    return thr


def fidelity(model, root: Path, frames: int = 8, seed: int = 0) -> dict:
    from ml.media.faces import FaceFinder, crop_face
    from ml.training.prepare import main_track
    from ml.media.decode import sample_frames

    finder, rng = FaceFinder(), np.random.default_rng(seed)
    rows, drops_top, drops_rand = [], [], []
    for fake_rel, real_rel in PAIRS:
        fake_frames = sample_frames(str(root / fake_rel), frames)
        real_frames = sample_frames(str(root / real_rel), frames)
        track = main_track([t for t in finder.track([f.image for f in fake_frames]) if t.faces])
        if track is None:
            continue
        pairs = [(p, fake_frames[p], real_frames[p]) for p in sorted(track.faces)
                 if p < len(real_frames) and fake_frames[p].index == real_frames[p].index
                 and fake_frames[p].image.shape == real_frames[p].image.shape]
        if not pairs:
            continue
        fake_crops = np.stack([crop_face(f.image, track.faces[p].landmarks, 224)[0] for p, f, _ in pairs])
        real_crops = np.stack([crop_face(r.image, track.faces[p].landmarks, 224)[0] for p, _, r in pairs])
        diff = np.abs(fake_crops.astype(np.float32) - real_crops.astype(np.float32)).mean(-1)
        patch_diff = diff.reshape(len(diff), 14, 16, 14, 16).mean((2, 4))
        with torch.inference_mode():
            hidden = model.hidden(_x(fake_crops))
            scores = model.patch_scores(hidden)
            logits = model.frame_logits(model.features_from_hidden(hidden))
        cams = cams_from_scores(scores).numpy()
        for k in range(len(pairs)):
            region = patch_diff[k] > otsu(patch_diff[k])
            area = float(region.mean())
            mass = float(cams[k][region].sum() / max(cams[k].sum(), 1e-8))
            rows.append({"pair": fake_rel.split("/")[-1], "method": fake_rel.split("/")[-4] if "manipulate" in fake_rel else "Celeb-DF v2",
                         "area_share": area, "mass_share": mass})
        # Deletion: grey out the top-scored 20% of patches vs a random 20% (mean over 3 draws)
        n_del = int(round(0.2 * 196))
        for k in range(len(pairs)):
            order = np.argsort(-scores[k].numpy().ravel())
            top = _grey(fake_crops[k], order[:n_del])
            rand = [_grey(fake_crops[k], rng.choice(196, n_del, replace=False)) for _ in range(3)]
            with torch.inference_mode():
                out = model.frame_logits(model.embed(_x(np.stack([top, *rand])))).numpy()
            drops_top.append(float(logits[k] - out[0]))
            drops_rand.append(float(logits[k] - out[1:].mean()))
    area = np.array([r["area_share"] for r in rows])
    mass = np.array([r["mass_share"] for r in rows])
    by_method = {}
    for m in sorted({r["method"] for r in rows}):
        sel = [r for r in rows if r["method"] == m]
        by_method[m] = {"crops": len(sel), "area_share": round(float(np.mean([r["area_share"] for r in sel])), 3),
                        "mass_share": round(float(np.mean([r["mass_share"] for r in sel])), 3)}
    return {"pairs": len(PAIRS), "crops": len(rows), "mean_area_share": round(float(area.mean()), 4),
            "mean_mass_share": round(float(mass.mean()), 4),
            "mass_over_area": round(float(mass.mean() / max(area.mean(), 1e-8)), 3),
            "per_crop_mass_over_area_median": round(float(np.median(mass / np.maximum(area, 1e-8))), 3),
            "deletion": {"top20_logit_drop": round(float(np.mean(drops_top)), 4),
                         "random20_logit_drop": round(float(np.mean(drops_rand)), 4),
                         "top_beats_random_share": round(float(np.mean(np.array(drops_top) > np.array(drops_rand))), 3)},
            "by_method": by_method}


def _grey(crop: np.ndarray, patches) -> np.ndarray:
    out = crop.copy()
    fill = crop.reshape(-1, 3).mean(0).astype(np.uint8)
    for p in patches:
        r, c = divmod(int(p), 14)
        out[r * 16:(r + 1) * 16, c * 16:(c + 1) * 16] = fill
    return out


def dev_video_crops(frames: int = 4) -> list[dict]:
    from ml.training.clip_features import cache_root, load_manifest

    out = []
    for r in load_manifest():
        if r["status"] == "ok" and r["split"] in ("dev", "dev_th") and r["kind"] == "video" and r["condition"] == "clean":
            with np.load(cache_root() / "items" / f"{r['key']}.npz") as z:
                crops = z["crops"]
            crops = crops[np.linspace(0, len(crops) - 1, min(frames, len(crops))).round().astype(int)]
            out.append(r | {"crops": crops})
    return out


CONDITIONS = ("clean", "h264_crf23", "h264_crf35", "h264_crf40", "downscale_0.5", "blur", "brightness+30%", "brightness-30%")


def degrade(crops: np.ndarray, condition: str) -> np.ndarray:
    from ml.media import degradations

    if condition == "h264_crf40":
        return degradations.h264_sequence(crops, crf=40)
    if condition == "downscale_0.5":
        return np.stack([degradations.resize(c, 0.5) for c in crops])
    return degradations.perturb_frames(crops, condition)


def clip_score(model, card: dict, crops: np.ndarray) -> float:
    from ml.calibration import calibrate
    from ml.clip_rules import track_score

    with torch.inference_mode():
        f = model.embed(_x(crops))
        probs = torch.sigmoid(model.frame_logits(f)).numpy()
        lstm = float(torch.sigmoid(model.clip_logits(f[None]))[0])
    raw = track_score(card.get("clip_rule", "mean_frames"), "video", probs, lstm)
    return float(calibrate(card, [raw], "video")[0])


def robustness(model, card: dict, splits=("dev",), log=print) -> dict:
    items = dev_video_crops()
    out = {}
    for condition in CONDITIONS:
        started = time.time()
        table = {}
        for split in splits:
            sel = [r for r in items if r["split"] == split]
            s = [clip_score(model, card, degrade(r["crops"], condition)) for r in sel]
            table[split] = round(roc_auc([r["label"] == "fake" for r in sel], s), 4)
        out[condition] = table
        log(f"robustness {condition}: video AUC {table} ({time.time() - started:.0f} s)")
    for condition in CONDITIONS:
        out[condition]["drop_dev"] = round(out["clean"]["dev"] - out[condition]["dev"], 4)
    return out


def attack(model, card: dict, n: int = 12, log=print) -> dict:
    from ml.evaluation.attack import fake_logits, fgsm, pgd
    from ml.training.clip_features import cache_root, load_manifest

    rows = [r for r in load_manifest() if r["status"] == "ok" and r["split"] == "test" and r["label"] == "fake" and r["root"] == "train"]
    crops = []
    for r in rows:
        with np.load(cache_root() / "items" / f"{r['key']}.npz") as z:
            crops.append(z["crops"][0])
    pixels = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0
    with torch.inference_mode():
        clean = torch.sigmoid(fake_logits(model, pixels)).numpy()
    flagged = pixels[torch.from_numpy(clean >= 0.5)][:n]
    out = {"fakes": len(pixels), "flagged_clean": int((clean >= 0.5).sum()), "attacked": len(flagged)}
    for eps in (2, 4):
        for name, fn in (("fgsm", fgsm), ("pgd10", pgd)):
            started = time.time()
            adv = torch.cat([fn(model, flagged[i:i + 4], eps / 255) for i in range(0, len(flagged), 4)])
            with torch.inference_mode():
                p = torch.sigmoid(fake_logits(model, adv)).numpy()
            out[f"{name}_eps{eps}"] = round(float((p < 0.5).mean()), 3)
            log(f"attack {name} eps {eps}/255: success {out[f'{name}_eps{eps}']} on {len(flagged)} crops ({time.time() - started:.0f} s)")
    return out


def main(argv=None) -> None:
    from ml.training.prepare import REPO, data_root

    parser = argparse.ArgumentParser(prog="python -m ml.evaluation.clip_eval", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--fidelity", action="store_true")
    parser.add_argument("--robustness", action="store_true")
    parser.add_argument("--attack", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=REPO / "ml" / "weights" / "evaluation")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    model, card = load_checkpoint(args.checkpoint)
    path = args.out_dir / "clip_eval.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results["version"] = card["version"]
    if args.fidelity:
        results["fidelity"] = fidelity(model, data_root() / "dev")
        print("heatmap fidelity: " + json.dumps(results["fidelity"]), flush=True)
    if args.robustness:
        results["robustness"] = robustness(model, card)
    if args.attack:
        results["attack"] = attack(model, card)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
