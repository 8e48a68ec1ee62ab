"""Train the voice network on the speech pool's train split (one CPU core, a time budget), resumably.

    python -m ml.audio.train --out runs/voice-logmel --steps 600 --minutes 25 [--front-end lfcc] [--no-codecs] [--resume]

Validation holds out whole speaker groups (``ml.audio.data.group_split``). Batches are balanced; every
item is a random fixed-length crop of either label, through the same random degradations (codec copies
from the cache, telephone band, noise, reverberation, gain). Item j of step k is drawn from a generator
seeded with (seed, k, j), so the stream is a function of position and ``--resume`` continues it from
``state.pt`` (weights, optimizer, step, seconds used, best weights, history, torch RNG). At the end the
best weights (validation AUC, clean and degraded) are calibrated on validation (``ml.audio.calibrate``).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ml.audio import data, degrade, features
from ml.audio.network import build

DEFAULTS = {"network": "tdnn", "front_end": "logmel", "width": 64, "crop_s": 2.0, "batch": 32, "lr": 2e-3, "weight_decay": 1e-3,
            "minutes": 25.0, "steps": 600, "codecs": True, "p_phone": 0.2, "p_noise": 0.3, "p_reverb": 0.15,
            "val_every_s": 180.0, "seed": 0, "pairs": False}


class WaveStore:
    """Clips' waveforms (clean and codec copies) kept in memory as int16 after the first read."""

    def __init__(self):
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    def get(self, clip: data.Clip, variant: str) -> np.ndarray:
        """A codec copy not yet in the cache gives the clean clip (ffmpeg per draw would cost more than a
        step on a shared core; ``python -m ml.audio.data`` fills the cache beside a run)."""
        if variant != "clean" and not data.cache_path(clip, variant).exists():
            variant = "clean"
        key = (clip.clip_id, variant)
        if key not in self._cache:
            self._cache[key] = np.round(data.load(clip, variant) * 32767).astype(np.int16)
        return self._cache[key].astype(np.float32) / 32767


def augment(wave: np.ndarray, cfg: dict, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < cfg["p_phone"]:
        wave = degrade.phone_band(wave, mu_law=bool(rng.random() < 0.5))
    if rng.random() < cfg["p_reverb"]:
        wave = degrade.reverb(wave, float(rng.uniform(0.15, 0.6)), rng)
    if rng.random() < cfg["p_noise"]:
        wave = degrade.add_noise(wave, float(rng.uniform(10, 35)), rng, colour=str(rng.choice(["white", "pink"])))
    return degrade.gain(wave, float(rng.uniform(-12, 6)))


def crop(wave: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if len(wave) < n:  # shorter clips are repeated, so length says nothing about the label
        wave = np.tile(wave, math.ceil(n / len(wave)))
    start = int(rng.integers(0, len(wave) - n + 1))
    return wave[start:start + n]


def pair_groups(clips: list[data.Clip]) -> list[dict[int, list[data.Clip]]]:
    """Speaker groups with both labels, as {label: clips}: drawing a real and a fake from one group takes the
    speaker out of the cues (most real-only groups are audiobook speakers the fakes never imitate)."""
    groups: dict[str, dict[int, list[data.Clip]]] = {}
    for c in clips:
        groups.setdefault(c.group, {0: [], 1: []})[c.label].append(c)
    return [g for _, g in sorted(groups.items()) if g[0] and g[1]]


def draw(clips_by_label, store: WaveStore, cfg: dict, step: int, j: int, pairs=None) -> tuple[np.ndarray, int]:
    label = j % 2
    if pairs:  # both items of pair j // 2 come from one speaker group
        group = pairs[int(np.random.default_rng([cfg["seed"], step, j // 2, 7]).integers(len(pairs)))]
        clips = group[label]
    else:
        clips = clips_by_label[label]
    rng = np.random.default_rng([cfg["seed"], step, j])
    clip = clips[int(rng.integers(len(clips)))]
    variants = data.TRAIN_VARIANTS if cfg["codecs"] else ("clean",)
    variant = "clean" if rng.random() < 0.4 else variants[int(rng.integers(len(variants)))]
    wave = crop(store.get(clip, variant), int(cfg["crop_s"] * features.SR), rng)
    return features.features(augment(wave, cfg, rng), cfg["front_end"]), label


def make_batch(clips_by_label, store, cfg, step, pairs=None):
    items = [draw(clips_by_label, store, cfg, step, j, pairs) for j in range(cfg["batch"])]
    x = torch.from_numpy(np.stack([f for f, _ in items])[:, None])
    y = torch.tensor([float(lab) for _, lab in items])
    return x, y


def progress(cfg: dict, st: dict) -> float:
    """How far the run is: steps done or training seconds used, whichever budget is nearer its end."""
    return max(st["step"] / cfg["steps"], st["used_s"] / (cfg["minutes"] * 60))


def lr_at(cfg: dict, done: float) -> float:
    """Linear warm-up over the first 3%, then cosine to zero."""
    if done < 0.03:
        return cfg["lr"] * max(done / 0.03, 0.05)
    return cfg["lr"] * 0.5 * (1 + math.cos(math.pi * min((done - 0.03) / 0.97, 1.0)))


def run(cfg: dict, out: Path, resume: bool, stop_after: int | None = None) -> Path | None:
    """Train into ``out``; ``stop_after``: pause after that many steps (state saved; None returned)."""
    from ml.audio.calibrate import ValidationSet, finish

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "state.pt"
    train_clips, val_clips = data.group_split(data.read_manifest("train"), seed=cfg["seed"])
    by_label = {lab: [c for c in train_clips if c.label == lab] for lab in (0, 1)}
    pairs = pair_groups(train_clips) if cfg.get("pairs") else None
    torch.manual_seed(cfg["seed"])
    spec = {"name": cfg["network"], "args": {"n_bins": features.FRONT_ENDS[cfg["front_end"]], "width": cfg["width"]}}
    model = build(spec["name"], **spec["args"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    st = {"step": 0, "used_s": 0.0, "best": None, "best_auc": -1.0, "history": [], "last_val_s": 0.0}
    if resume and state_path.exists():
        saved = torch.load(state_path, map_location="cpu", weights_only=False)
        cfg = saved["cfg"]
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        torch.set_rng_state(saved["torch_rng"])
        st = saved["st"]
        print(f"resumed at step {st['step']} ({st['used_s']:.0f} s used)", file=sys.stderr)
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    store = WaveStore()
    val = ValidationSet(val_clips, cfg["front_end"])
    loss_fn = torch.nn.BCEWithLogitsLoss()
    running = []

    def validate_and_save():
        model.eval()
        scores = val.score(model)
        model.train()
        st["history"].append({"step": st["step"], "used_s": round(st["used_s"]), **scores,
                              "loss": round(float(np.mean(running[-50:])) if running else float("nan"), 4)})
        print(json.dumps(st["history"][-1]), file=sys.stderr, flush=True)
        if scores["select"] > st["best_auc"]:
            st["best_auc"] = scores["select"]
            st["best"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        st["last_val_s"] = st["used_s"]
        torch.save({"cfg": cfg, "model": model.state_dict(), "opt": opt.state_dict(), "st": st,
                    "torch_rng": torch.get_rng_state()}, state_path)

    model.train()
    while progress(cfg, st) < 1.0:
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, progress(cfg, st))
        x, y = make_batch(by_label, store, cfg, st["step"], pairs)
        loss = loss_fn(model(x).mean(dim=1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        running.append(float(loss.detach()))
        st["step"] += 1
        st["used_s"] += time.perf_counter() - t0
        if st["used_s"] - st["last_val_s"] >= cfg["val_every_s"]:
            validate_and_save()
        if stop_after is not None and st["step"] >= stop_after and progress(cfg, st) < 1.0:
            validate_and_save()
            return None
    validate_and_save()
    model.load_state_dict(st["best"])
    return finish(model.eval(), spec, cfg, val, st["history"], out)


def finalize(out: Path) -> Path:
    """Calibrate and export the best weights of a stopped run (its ``state.pt``) without training more."""
    from ml.audio.calibrate import ValidationSet, finish

    torch.set_num_threads(1)
    saved = torch.load(out / "state.pt", map_location="cpu", weights_only=False)
    cfg, st = saved["cfg"], saved["st"]
    spec = {"name": cfg.get("network", "lcnn"),
            "args": {"n_bins": features.FRONT_ENDS[cfg["front_end"]], "width": cfg["width"]}}
    model = build(spec["name"], **spec["args"])
    model.load_state_dict(st["best"] or saved["model"])
    _, val_clips = data.group_split(data.read_manifest("train"), seed=cfg["seed"])
    return finish(model.eval(), spec, cfg, ValidationSet(val_clips, cfg["front_end"]), st["history"], out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.audio.train", description="train the voice network")
    parser.add_argument("--out", required=True)
    parser.add_argument("--finalize", action="store_true", help="calibrate and export the best weights of a stopped run")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--front-end", choices=sorted(features.FRONT_ENDS), default=DEFAULTS["front_end"])
    parser.add_argument("--minutes", type=float, default=DEFAULTS["minutes"])
    parser.add_argument("--steps", type=int, default=DEFAULTS["steps"], help="steps (whichever of steps and minutes ends first)")
    parser.add_argument("--val-every", type=float, default=DEFAULTS["val_every_s"], help="training seconds between validations")
    parser.add_argument("--no-codecs", action="store_true", help="ablation: no codec copies in training")
    parser.add_argument("--network", choices=("tdnn", "lcnn"), default=DEFAULTS["network"])
    parser.add_argument("--width", type=int, default=None, help="channels (default 64 for tdnn, 12 for lcnn)")
    parser.add_argument("--pairs", action="store_true", help="each real/fake pair from one speaker group")
    parser.add_argument("--batch", type=int, default=DEFAULTS["batch"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stop-after", type=int, default=None, help="pause after N steps (continue with --resume)")
    args = parser.parse_args(argv)
    if args.finalize:
        print(finalize(Path(args.out)))
        return 0
    cfg = {**DEFAULTS, "front_end": args.front_end, "minutes": args.minutes, "codecs": not args.no_codecs,
           "network": args.network, "width": args.width or (64 if args.network == "tdnn" else 12), "seed": args.seed, "batch": args.batch, "pairs": args.pairs, "steps": args.steps, "val_every_s": args.val_every}
    print(run(cfg, Path(args.out), args.resume, args.stop_after))
    return 0


if __name__ == "__main__":
    sys.exit(main())
