"""The CNN-LSTM's Markdown model card written from its checkpoint's card and an evaluation report, and
the report's headline figures stored back in the checkpoint's card (``--update-card``)."""
from __future__ import annotations

import json
import time
from pathlib import Path

from ml.evaluation.report import markdown
from ml.paths import WEIGHTS_DIR
from ml.training.prepare import REPO


def _rel(path: Path) -> str:
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
    """Store the report's headline figures in the checkpoint's card (its date and commit stay the training's)."""
    import torch

    from ml.models.builders import build_model
    from ml.models.checkpoint import save_checkpoint

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(ckpt["model"]["name"], **ckpt["model"]["args"])
    model.load_state_dict(ckpt["state_dict"])
    card = dict(ckpt["card"])
    card["metrics"] = {**card.get("metrics", {}), **compact(report)}
    card["evaluated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # date and commit stay the training's
    save_checkpoint(path, model, model_spec=ckpt["model"], card=card)
