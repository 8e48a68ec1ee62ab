"""Fit the tamper signal's threshold on real training media and measure its false alarms on clean real dev
media: ``python -m ml.evaluation.tamper_calibrate [--write]``.

Reads the crop cache (``ml.evaluation.adv_cache``: part ``train`` to fit, parts ``dev`` and ``wild`` to
measure) and scores through the serving ONNX graph, as the worker does. The threshold is the
``--quantile`` (default 0.98) of the signal over the real items of the train split, so it fires on at most
~2% of them; ``--write`` stores it in ``ml/weights/tamper.json`` for the shipped model version. Prints
the false-alarm rate on clean real dev and dev-wild items: over all of them, and over those where the
portal runs the check (score below threshold + band, i.e. not "likely fake").
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ml.inference import tamper
from ml import calibration

BAND = 0.1  # the portal's RESULT_INCONCLUSIVE_BAND default


def item_score(card: dict, kind: str, frame_logits: np.ndarray) -> float:
    """The portal's item score from frame logits: an image's calibrated frame probability, a video's
    calibrated clip rule (the card's ``mean_frames``: mean of frame probabilities)."""
    probs = calibration.sigmoid(frame_logits)
    raw = float(probs[0]) if kind == "image" else float(probs.mean())
    return float(calibration.calibrate(card, [raw], kind)[0])


def onnx_logits(threads: int = 1):
    """(crops -> frame logits through the serving graph, its card)."""
    from ml.inference.predictor import Predictor

    predictor = Predictor.load(backend="onnx", threads=threads)
    timings: dict = {}
    return (lambda crops: predictor.scorer(crops, timings)[0]), predictor.card


def measure(items: list[dict], score, card: dict) -> list[dict]:
    out = []
    for it in items:
        logits = np.asarray(score(it["crops"]), float)
        rows = tamper.decisive(logits)
        start = time.perf_counter()
        value, per = tamper.rise(score, it["crops"][rows], logits[rows])
        out.append({"path": it["path"], "label": it["label"], "kind": it["kind"], "method": it["method"],
                    "score": item_score(card, it["kind"], logits), "rise": value, "changes": per,
                    "seconds": time.perf_counter() - start})
    return out


def spread(items: list[dict], n: int) -> list[dict]:
    """Up to ``n`` items, round-robin over their methods (many sources, not the first folder's)."""
    by_method: dict[str, list[dict]] = {}
    for it in items:
        by_method.setdefault(it["method"], []).append(it)
    out, k = [], 0
    while len(out) < n and any(len(v) > k for v in by_method.values()):
        out += [v[k] for v in by_method.values() if len(v) > k][: n - len(out)]
        k += 1
    return out


def rates(rows: list[dict], threshold: float, card_threshold: float) -> dict:
    rise = np.array([r["rise"] for r in rows])
    checked = np.array([r["score"] < card_threshold + BAND for r in rows])
    fired = rise > threshold
    return {"n": len(rows), "fired": int(fired.sum()), "rate": round(float(fired.mean()), 4) if len(rows) else None,
            "n_checked": int(checked.sum()), "fired_checked": int((fired & checked).sum()),
            "rate_checked": round(float((fired & checked).sum() / max(checked.sum(), 1)), 4)}


def main(argv=None) -> None:
    from ml.evaluation.adv_cache import cache_dir, load_items

    parser = argparse.ArgumentParser(prog="python -m ml.evaluation.tamper_calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--quantile", type=float, default=0.98)
    parser.add_argument("--max-items", type=int, default=80, help="per part and label (CPU budget)")
    parser.add_argument("--parts", default="train,dev,wild", help="train is always read: it fits the threshold")
    parser.add_argument("--write", action="store_true", help="store the threshold in ml/weights/tamper.json")
    args = parser.parse_args(argv)
    score, card = onnx_logits()
    cached_path = cache_dir() / "tamper_rows.json"
    cached = json.loads(cached_path.read_text()) if cached_path.exists() else {}
    results = {}
    for part in dict.fromkeys(["train", *args.parts.split(",")]):
        items = spread([it for it in load_items(part) if it["label"] == "real"], args.max_items)
        done = {r["path"]: r for r in cached.get(part, [])}
        todo = [it for it in items if it["path"] not in done]
        results[part] = [done[it["path"]] for it in items if it["path"] in done] + measure(todo, score, card)
        cached[part] = results[part]
        cached_path.write_text(json.dumps(cached))
    train_rise = np.array([r["rise"] for r in results["train"]])
    # "higher": an observed value, so that at most (1 - quantile) of the train items lie strictly above it.
    threshold = round(float(np.quantile(train_rise, args.quantile, method="higher")), 4)
    report = {"model_version": card["version"], "threshold": threshold, "crops": tamper.CROPS,
              "changes": list(tamper.CHANGES), "quantile": args.quantile,
              "fitted_on": f"{len(train_rise)} real items of the train split (adv_cache part train)",
              "false_alarms": {part: rates(rows, threshold, float(card["threshold"])) for part, rows in results.items()},
              "seconds_per_check_median": round(float(np.median([r["seconds"] for rows in results.values()
                                                                  for r in rows])), 3)}
    print(json.dumps(report, indent=2))
    if args.write:
        tamper.CALIBRATION.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
