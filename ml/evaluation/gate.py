"""The promotion gate: a candidate and the serving model scored on the same labelled items, and the decision: ``python -m ml.evaluation.gate``.

Each model is run through the whole inference path (``Predictor``: decode, faces, crops, its own clip
rule and calibration) and judged at its own card's threshold (``ml.metrics.gate_metrics``): ROC AUC with a
bootstrap 95% interval, accuracy, precision, recall, F1 and ECE. A candidate passes only if its AUC is at
least ``margin`` above the serving model's and its ECE is at most ``ece_limit``; every reason is a
sentence with the numbers.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml.items import Item, RetrainError, read_items
from ml.metrics import gate_metrics


def score_items(checkpoint: Path, items: list[Item], *, backend: str = "onnx", progress=None) -> list[float | None]:
    """Each item's calibrated P(fake) from the model in ``checkpoint``; None where it found no face or
    could not read the file."""
    from ml.inference import Predictor

    predictor = Predictor.load(checkpoint, backend=backend)
    out: list[float | None] = []
    for n, item in enumerate(items):
        result = predictor.predict(item.path)
        out.append(float(result.score) if result.status == "ok" and result.score is not None else None)
        if progress:
            progress(n + 1, len(items))
    return out


def _f(v: float) -> str:
    """0.71 -> "0.71", 0.7123 -> "0.7123" (at most 4 decimals)."""
    return f"{v:.4f}".rstrip("0").rstrip(".") if v != int(v) else f"{v:.1f}"


def compare(candidate: dict, serving: dict, *, margin: float, ece_limit: float) -> tuple[bool, list[str]]:
    """(passes, reasons): passes only if the candidate's AUC >= the serving model's + ``margin`` and
    its ECE <= ``ece_limit``; the reasons say, with the numbers, what failed (or why it passed)."""
    ok, reasons = True, []
    c_auc, s_auc = candidate.get("auc"), serving.get("auc")
    if c_auc is None or s_auc is None:
        ok = False
        who = "candidate" if c_auc is None else "serving model"
        reasons.append(f"the {who} has no AUC on the gate set (it needs scored items of both classes; "
                       f"{(candidate if c_auc is None else serving).get('n_scored', 0)} of "
                       f"{(candidate if c_auc is None else serving).get('n', 0)} items were scored)")
    elif c_auc + 1e-9 < s_auc + margin:
        ok = False
        reasons.append(f"candidate AUC {_f(c_auc)} is not {_f(margin)} better than serving {_f(s_auc)}")
    else:
        reasons.append(f"candidate AUC {_f(c_auc)} is at least {_f(margin)} better than serving {_f(s_auc)}")
    c_ece = candidate.get("ece")
    if c_ece is None:
        ok = False
        reasons.append("the candidate has no ECE on the gate set (no item was scored)")
    elif c_ece > ece_limit + 1e-9:
        ok = False
        reasons.append(f"candidate ECE {_f(c_ece)} is above the limit {_f(ece_limit)}")
    else:
        reasons.append(f"candidate ECE {_f(c_ece)} is within the limit {_f(ece_limit)}")
    return ok, reasons


def side_by_side(names: tuple[str, str], metrics: tuple[dict, dict]) -> str:
    def cell(m: dict, key: str) -> str:
        if key == "auc":
            return "-" if m["auc"] is None else f"{m['auc']:.4f} [{m['auc_ci'][0]:.3f}-{m['auc_ci'][1]:.3f}]"
        if key == "scored":
            return f"{m['n_scored']} of {m['n']}"
        return "-" if m[key] is None else f"{m[key]:.4f}"

    rows = [("", *names)] + [(label, *(cell(m, key) for m in metrics)) for label, key in (
        ("items scored", "scored"), ("AUC [95%]", "auc"), ("threshold", "threshold"), ("accuracy", "accuracy"),
        ("precision", "precision"), ("recall", "recall"), ("F1", "f1"), ("ECE", "ece"))]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.evaluation.gate", description=__doc__.splitlines()[0])
    parser.add_argument("candidate", type=Path)
    parser.add_argument("serving", type=Path)
    parser.add_argument("--items", required=True, type=Path, help="the gate set: CSV path,label,kind[,group,source]")
    parser.add_argument("--margin", required=True, type=float, help="AUC the candidate must gain")
    parser.add_argument("--ece-limit", required=True, type=float, help="the highest ECE a candidate may have")
    parser.add_argument("--backend", choices=["onnx", "torch"], default="onnx")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures and decision here")
    args = parser.parse_args(argv)
    try:
        items = read_items(args.items)
    except RetrainError as exc:
        print(f"gate: {exc}", file=sys.stderr)
        return 2
    labels = [it.label for it in items]
    results, versions = [], []
    for name, path in (("candidate", args.candidate), ("serving", args.serving)):
        if not path.is_file():
            print(f"gate: the {name} checkpoint {path} does not exist", file=sys.stderr)
            return 2
        scores = score_items(path, items, backend=args.backend,
                             progress=lambda n, total, name=name: print(f"\r{name}: {n}/{total} items", end="", file=sys.stderr))
        print(file=sys.stderr)
        from ml.inference.backends import read_card

        card = read_card(path)
        versions.append(card["version"])
        results.append(gate_metrics(labels, scores, float(card["threshold"])))
    ok, reasons = compare(results[0], results[1], margin=args.margin, ece_limit=args.ece_limit)
    print(side_by_side((f"candidate {versions[0]}", f"serving {versions[1]}"), tuple(results)))
    print(("PASS: the candidate may be promoted" if ok else "REFUSED: the candidate may not be promoted") + "\n  - "
          + "\n  - ".join(reasons))
    if args.json:
        args.json.write_text(json.dumps({"candidate": {"version": versions[0], **results[0]},
                                         "serving": {"version": versions[1], **results[1]},
                                         "passed": ok, "reasons": reasons}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
