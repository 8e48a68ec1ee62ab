"""Voice checkpoints and their ONNX export; the card travels inside both.

    python -m ml.audio.checkpoint --init            # untrained model -> ml/weights/voice.pt + voice.onnx
    python -m ml.audio.checkpoint --export P.pt     # a trained checkpoint -> ml/weights/voice.onnx (checked)
    python -m ml.audio.checkpoint --show P          # print the card of a .pt or .onnx

A checkpoint is ``{"format": "voice-1", "model": {"name", "args"}, "state_dict", "card"}``; the card says
the front end, the calibration (``a``, ``b``: P(synthetic) = sigmoid(a * clip_logit + b)), the threshold,
the training data and the metrics. The ONNX graph carries the same card in its metadata (key ``card``).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from ml.audio.features import FRONT_ENDS, HOP, SR
from ml.audio.network import TIME_STRIDE, build
from ml.paths import WEIGHTS_DIR, git_commit

FORMAT = "voice-1"
DEFAULT_PT = WEIGHTS_DIR / "voice.pt"
DEFAULT_ONNX = WEIGHTS_DIR / "voice.onnx"


def base_card(front_end: str, version: str) -> dict:
    return {
        "version": version,
        "task": "P(synthetic speech)",
        "preprocessing": {"sample_rate": SR, "hop": HOP, "front_end": front_end, "bins": FRONT_ENDS[front_end],
                          "time_stride": TIME_STRIDE, "normalisation": "per-band mean over speech frames"},
        "calibration": {"method": "none", "a": 1.0, "b": 0.0},
        "threshold": 0.5,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
    }


def save(path: str | Path, model: torch.nn.Module, spec: dict, card: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    tmp = Path(f"{path}.{os.getpid()}.tmp")
    torch.save({"format": FORMAT, "model": spec, "state_dict": state, "card": card}, tmp)
    os.replace(tmp, path)


def load(path: str | Path) -> tuple[torch.nn.Module, dict, dict]:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not a voice checkpoint ({FORMAT})")
    model = build(ckpt["model"]["name"], **ckpt["model"]["args"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), ckpt["model"], ckpt["card"]


def export(model: torch.nn.Module, card: dict, out: str | Path) -> Path:
    """Write the ONNX graph (features -> frame logits, any length) with the card, and check it."""
    import onnx
    import onnxruntime as ort

    model = model.eval()
    bins = int(card["preprocessing"]["bins"])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    torch.onnx.export(model, (torch.zeros(1, 1, bins, 400),), str(tmp), dynamo=False, opset_version=17,
                      input_names=["features"], output_names=["frame_logits"],
                      dynamic_axes={"features": {0: "batch", 3: "frames"}, "frame_logits": {0: "batch", 1: "steps"}})
    graph = onnx.load(str(tmp))
    graph.metadata_props.add(key="card", value=json.dumps(card))
    onnx.save(graph, str(tmp))
    x = np.random.default_rng(0).standard_normal((1, 1, bins, 1000)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"]).run(None, {"features": x})[0]
    diff = float(np.abs(ref - got).max())
    if diff > 1e-3:
        raise RuntimeError(f"ONNX graph differs from PyTorch by {diff}")
    os.replace(tmp, out)
    return out


def init(front_end: str = "logmel", width: int = 16, seed: int = 0) -> tuple[torch.nn.Module, dict, dict]:
    torch.manual_seed(seed)
    spec = {"name": "lcnn", "args": {"n_bins": FRONT_ENDS[front_end], "width": width}}
    card = base_card(front_end, "voice-untrained")
    card["note"] = "untrained (random weights): for wiring the portal only; scores mean nothing"
    return build(spec["name"], **spec["args"]).eval(), spec, card


def read_card(path: str | Path) -> dict:
    if str(path).endswith(".onnx"):
        import onnx

        meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        return json.loads(meta["card"])
    return torch.load(path, map_location="cpu", weights_only=True)["card"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.audio.checkpoint", description="voice checkpoints")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--init", action="store_true", help="write an untrained model")
    group.add_argument("--export", metavar="PT", help="export a checkpoint to ONNX")
    group.add_argument("--show", metavar="PATH")
    parser.add_argument("--out", default=None, help="ONNX path (default ml/weights/voice.onnx)")
    args = parser.parse_args(argv)
    if args.show:
        print(json.dumps(read_card(args.show), indent=2))
        return 0
    if args.init:
        model, spec, card = init()
        save(DEFAULT_PT, model, spec, card)
    else:
        model, spec, card = load(args.export)
    print(export(model, card, args.out or DEFAULT_ONNX))
    return 0


if __name__ == "__main__":
    sys.exit(main())
