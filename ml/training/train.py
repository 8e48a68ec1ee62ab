"""Train the detector: ``python -m ml.train --config ml/configs/default.json [--quick] [--out PATH]``.

Stage 1 (most of the time budget): the CNN and its frame head on single crops, real vs pseudo-fake
(self-blended, face swaps, the labelled fake photos), degradations on both classes, AdamW with a
cosine schedule over the *time* budget, validation on a fixed pseudo-fake set of held-out identities,
early stopping on its ROC AUC. Stage 2: the CNN frozen, the LSTM and clip head trained on sequences of
crop features (real tracks, steady and flickering fakes, one-frame image clips). The checkpoint keeps
the best stage-1 weights, the trained clip head, and a model card; the threshold is picked on the
validation clips (never on dev). The stages live in ``train_stages``, the choice of clip rule, calibration
and threshold in ``train_choice``; this module holds the configuration and the run.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ml.models.builders import backbone_input, build_model
from ml.models.checkpoint import default_preprocessing, save_checkpoint
from ml.training import data as D
from ml.training.prepare import REPO
from ml.training.train_choice import CLIP_RULE_NOTE, THRESHOLD_RULE, choose_clip_rule, finalize, score_histogram
from ml.training.train_stages import STATE, Interrupted, log, train_clips, train_frames

DEFAULTS = {
    "seed": 0,
    "model": {"name": "cnn_lstm", "args": {"backbone": "resnet_narrow", "lstm_hidden": 128, "dropout": 0.2}},
    "input_size": 128,
    "split_fractions": [0.7, 0.15, 0.15],
    "batch_size": 32,
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "warmup_steps": 100,
    "max_minutes": 40.0,
    "stage2_minutes": 5.0,
    "val_every_minutes": 4.0,
    "val_size": 1200,
    "patience": 4,
    "degrade": 1.0,
    "degrade_ramp_samples": 0,
    "paired": False,
    "degrade_start": 0.3,
    "num_workers": 1,
    "threads": 2,
    "stage2": {"train_clips": 480, "val_clips": 160, "image_fraction": 0.3, "epochs": 30, "lr": 2e-3, "batch_size": 16},
    "version_prefix": "sbi-swap",
}
QUICK = {"max_minutes": 1.5, "stage2_minutes": 0.5, "val_every_minutes": 0.5, "val_size": 64, "batch_size": 16,
         "num_workers": 0, "stage2": {"train_clips": 24, "val_clips": 12, "image_fraction": 0.3, "epochs": 3,
                                      "lr": 2e-3, "batch_size": 8}}


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ------------------------------------------------------------------------------------------- main
def run(cfg: dict, out: Path, *, cache: Path | None = None, limit: int | None = None, resume: bool = False) -> dict | None:
    """One training run. ``resume``: ``cfg`` is the run folder's saved config and its ``state.pt`` is
    continued (stage 1 where it stopped; stage 2, a few minutes and seeded, is redone)."""
    run_dir = Path(cfg.get("run_dir") or REPO / "runs" / time.strftime("train-%Y%m%d-%H%M%S"))
    run_dir.mkdir(parents=True, exist_ok=True)
    logfh = open(run_dir / "train.log", "a")
    torch.set_num_threads(cfg["threads"])
    seed_everything(cfg["seed"])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    state = None
    if resume:
        state = torch.load(run_dir / STATE, map_location="cpu", weights_only=True)
        log(f"resuming {run_dir} ({'stage 2' if state['stage1_done'] else 'stage 1'})", logfh)
    log(f"resolved config: {json.dumps(cfg, sort_keys=True)}", logfh)
    log(f"seed {cfg['seed']}, device {device}, torch {torch.__version__}, python {platform.python_version()}", logfh)
    stop_after = cfg.pop("stop_after_steps", None)
    (run_dir / "config.json").write_text(json.dumps(cfg | {"out": str(out)}, indent=2, sort_keys=True))
    cfg["stop_after_steps"] = stop_after
    started = time.time()
    banks = {s: D.CropBank.load(cache, s, seed=cfg["seed"], limit=limit, fractions=tuple(cfg["split_fractions"]))
             for s in D.SPLITS}
    D.write_split_manifest(banks, run_dir / "splits.json")
    data_summary = {s: b.summary() for s, b in banks.items()}
    log(f"data: {json.dumps(data_summary)}", logfh)
    model = build_model(cfg["model"]["name"], **cfg["model"]["args"])
    init_from = None
    if cfg.get("init_from"):  # continue from an earlier run's weights (same model spec)
        from ml.models.checkpoint import load_checkpoint

        previous, previous_card = load_checkpoint(cfg["init_from"])
        model.load_state_dict(previous.state_dict())
        init_from = {"path": str(cfg["init_from"]), "version": previous_card["version"],
                     "training": previous_card.get("training"), "config": previous_card.get("config")}
        log(f"initialised from {cfg['init_from']} ({previous_card['version']})", logfh)
    model = model.to(device)
    stage1_budget = (cfg["max_minutes"] - cfg["stage2_minutes"]) * 60
    if state and state["stage1_done"]:
        model.load_state_dict(state["best"]["state"])
        h = state["history"]
        stage1 = {"steps": state["step"], "samples_seen": state["seen"], "minutes": round(state["used"] / 60, 2),
                  "best_step": state["best"]["step"], "best_val_auc": round(state["best"]["auc"], 4), "history": h}
    else:
        stage1 = train_frames(model, banks, cfg, device, logfh, stage1_budget, run_dir, resume=state,
                              stop_after=cfg.get("stop_after_steps"))
    stage2, (y_val, lstm, mean, kinds, topk) = train_clips(model, banks, cfg, device, logfh,
                                                     time.time() + cfg["stage2_minutes"] * 60)
    choice = choose_clip_rule(y_val, lstm, mean, kinds, topk)
    threshold, val_metrics = choice["threshold"], choice["val_metrics_at_threshold"]
    log(f"clip rule {choice['clip_rule']} (validation video AUC by rule {choice['val_video_auc_by_rule']}), "
        f"calibration {choice['calibration']}, threshold {threshold}", logfh)
    version = f"{cfg['version_prefix']}-{time.strftime('%Y%m%d-%H%M')}-seed{cfg['seed']}"
    card = {
        "version": version,
        "preprocessing": default_preprocessing(cfg["input_size"]) | {"network_input": backbone_input(cfg["model"]["args"])},
        "threshold": threshold,
        "threshold_rule": THRESHOLD_RULE,
        "clip_rule": choice["clip_rule"],
        "clip_rule_choice": CLIP_RULE_NOTE,
        "config": cfg,
        "training_data": {
            "source": "../shared/data/train (real clips, UTKFace, real photos; StyleGAN2 and Photoshop fakes used as labelled fakes)",
            "pseudo_fakes": "self-blended images, face swaps (similarity/piecewise warp, Reinhard colour, alpha/Poisson, region masks), steady and flickering sequences",
            "splits": "by identity (person where file names tell, else clip/photo): see splits.json in the run folder",
            "summary": data_summary,
        },
        # the validation clips' scores as inference reports them: the reference for drift checks
        "validation_scores": score_histogram(choice["shipped_scores"]),
        "calibration": choice["calibration"],
        "initialised_from": init_from,
        "training": {"stage1": stage1, "stage2": stage2, "wall_minutes": round((time.time() - started) / 60, 2),
                     "device": str(device), "threads": cfg["threads"], "host_cpus": os.cpu_count()},
        "metrics": {"validation": {"frame_auc": stage1["best_val_auc"], **{k: v for k, v in stage2.items() if k.startswith("val_")},
                                   "val_video_auc_by_rule": choice["val_video_auc_by_rule"],
                                   "clip_metrics_at_threshold": val_metrics}},
    }
    spec = {"name": cfg["model"]["name"], "args": cfg["model"]["args"]}
    save_checkpoint(out, model.cpu(), model_spec=spec, card=card)
    (run_dir / "card.json").write_text(json.dumps(card, indent=2, default=str))
    log(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB), version {version}, threshold {threshold}", logfh)
    return card


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[1] / "configs" / "default.json")
    parser.add_argument("--quick", action="store_true", help="a few minutes: tiny budget, small validation")
    parser.add_argument("--out", type=Path, default=None, help="checkpoint path (default ml/weights/detector.pt; --quick: runs/quick.pt)")
    parser.add_argument("--cache", type=Path, default=None, help="crop cache (default <repo>/cache/crops)")
    parser.add_argument("--max-minutes", type=float, default=None, help="time budget of the whole run")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--init-from", type=Path, default=None, metavar="CKPT",
                        help="start from this checkpoint's weights (a continued run; recorded in the card)")
    parser.add_argument("--run-dir", type=Path, default=None, help="logs, config, splits (default runs/train-<time>)")
    parser.add_argument("--limit", type=int, default=None, help="load only N cached items per split (smoke tests)")
    parser.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                        help="continue an interrupted run from its folder (config, state.pt): same data stream, "
                             "schedule and time budget")
    parser.add_argument("--stop-after-steps", type=int, default=None, metavar="N",
                        help="stop stage 1 after N steps with its state saved, as a kill would (to test --resume)")
    parser.add_argument("--finalize", type=Path, default=None, metavar="CKPT",
                        help="only re-derive the clip rule and threshold of a saved checkpoint on its validation clips")
    args = parser.parse_args(argv)
    if args.finalize:
        print(json.dumps({k: v for k, v in finalize(args.finalize, cache=args.cache).items() if k != "shipped_scores"},
                         indent=1))
        return
    if args.resume:
        cfg = json.loads((args.resume / "config.json").read_text())
        cfg["run_dir"] = str(args.resume)
        out = args.out or Path(cfg.pop("out"))
        cfg["stop_after_steps"] = args.stop_after_steps
        try:
            run(cfg, out, cache=args.cache, limit=args.limit, resume=True)
        except Interrupted as exc:
            print(f"interrupted: {exc}; continue with --resume {args.resume}")
        return
    cfg = merge(DEFAULTS, json.loads(args.config.read_text()) if args.config and args.config.exists() else {})
    if args.quick:
        cfg = merge(cfg, QUICK)
    if args.max_minutes is not None:
        cfg["max_minutes"] = args.max_minutes
        cfg["stage2_minutes"] = min(cfg["stage2_minutes"], args.max_minutes / 3)
    if args.seed is not None:
        cfg["seed"] = args.seed
    if args.run_dir:
        cfg["run_dir"] = str(args.run_dir)
    if args.init_from:
        cfg["init_from"] = str(args.init_from)
    out = args.out or (REPO / "runs" / "quick.pt" if args.quick else REPO / "ml" / "weights" / "detector.pt")
    cfg["stop_after_steps"] = args.stop_after_steps
    try:
        run(cfg, out, cache=args.cache, limit=args.limit)
    except Interrupted as exc:
        print(f"interrupted: {exc}; continue with --resume {cfg.get('run_dir') or 'RUN_DIR'}")


if __name__ == "__main__":
    sys.exit(main())
