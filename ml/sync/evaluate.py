"""Measure the sync check on dev-wild: ``python -m ml.sync.evaluate [--json P] [--no-cache]``.

Prints: the status of every clip with sound; ROC AUC (``ml.metrics``) of the score for lip-syncs and
dubbings with sound (positives) against real clips with sound (negatives), with a bootstrap 95%
interval (2,000 resamples of clips), over the clips the check could score; counts and flag rates by
method; and the shifted-audio check: every real clip with sound that was scored is judged again with
its audio played 0.3 s and 1.0 s late (and early), shifted in memory, giving the detection rate for each
shift and the false-alarm rate on the unshifted clips. Other fakes with sound (blink animations of a
still portrait: no lip-sync) are scored and listed apart, not in the AUC.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np
import cv2

from ml.metrics import bootstrap, roc_auc
from ml.sync import data
from ml.sync.checker import Signals, SyncChecker
from ml.sync.result import SyncResult

SHIFTS = (0.3, 1.0, -0.3, -1.0)


def score_rows(checker: SyncChecker, use_cache: bool) -> list[dict]:
    rows = data.dev_wild_rows()
    for row in rows:
        try:
            got = data.cached_signals(row["path"], checker) if use_cache else checker.signals(str(row["path"]))
        except Exception as exc:  # report, never stop the evaluation
            got = SyncResult("error", error=repr(exc))
        row["signals"] = got if isinstance(got, Signals) else None
        row["result"] = checker.judge(got) if isinstance(got, Signals) else got
    return rows


def summary(checker: SyncChecker, rows: list[dict]) -> dict:
    ok = [r for r in rows if r["label"] is not None and r["result"].status == "ok"]
    y = np.array([r["label"] for r in ok])
    s = np.array([r["result"].score for r in ok])
    out: dict = {"clips_with_sound": len(rows)}
    status = defaultdict(lambda: defaultdict(int))
    for r in rows:
        key = {1: "lip-sync", 0: "real", None: "other fake"}[r["label"]]
        status[key][r["result"].status] += 1
    out["status"] = {k: dict(v) for k, v in status.items()}
    if len(set(y)) == 2:
        lo, hi = bootstrap(roc_auc, y, s, rounds=2000, stratified=False)
        out["auc"] = {"value": round(roc_auc(y, s), 3), "ci95": [round(lo, 3), round(hi, 3)],
                      "positives": int(y.sum()), "negatives": int(len(y) - y.sum())}
    by_method = defaultdict(list)
    for r in rows:
        by_method[r["method"]].append(r)
    out["by_method"] = {}
    for method, items in sorted(by_method.items()):
        scored = [r["result"] for r in items if r["result"].status == "ok"]
        out["by_method"][method] = {
            "label": {1: "lip-sync", 0: "real", None: "other fake"}[items[0]["label"]], "n": len(items),
            "scored": len(scored), "flagged": sum(r.flagged for r in scored),
            "mean_score": round(float(np.mean([r.score for r in scored])), 3) if scored else None}
    reals = [r for r in rows if r["label"] == 0 and r["signals"] is not None and r["result"].status == "ok"]
    shifted = {"reals": len(reals),
               "false_alarm_unshifted": _rate([r["result"].flagged for r in reals])}
    for shift in SHIFTS:
        results = [checker.judge(r["signals"], audio_shift_s=shift) for r in reals]
        shifted[f"detected_{shift:+.1f}s"] = _rate([x.flagged for x in results])
        shifted[f"offset_found_{shift:+.1f}s_median"] = _median([x.offset_s for x in results if x.status == "ok"])
    out["shifted_audio"] = shifted
    return out


def _rate(flags: list[bool]) -> float | None:
    return round(float(np.mean(flags)), 3) if flags else None


def _median(values: list[float]) -> float | None:
    return round(float(np.median(values)), 3) if values else None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the summary and per-clip results here")
    ap.add_argument("--no-cache", action="store_true", help="recompute every clip's signals")
    ap.add_argument("--clips", action="store_true", help="print one line per clip")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)  # the machine is shared: one core
    checker = SyncChecker(any_container=True)
    rows = score_rows(checker, use_cache=not args.no_cache)
    result = summary(checker, rows)
    print(f"sync check {checker.calibration.method_version} on dev-wild ({result['clips_with_sound']} clips with sound)")
    print("status:", json.dumps(result["status"]))
    if "auc" in result:
        a = result["auc"]
        print(f"ROC AUC lip-syncs vs reals: {a['value']:.3f} (bootstrap 95% CI {a['ci95'][0]:.3f}-{a['ci95'][1]:.3f};"
              f" {a['positives']} lip-syncs, {a['negatives']} reals scored)")
    print(f"{'method':72s} {'label':10s} {'n':>3s} {'ok':>3s} {'flag':>4s} {'mean':>6s}")
    for method, m in result["by_method"].items():
        mean = "" if m["mean_score"] is None else f"{m['mean_score']:.3f}"
        print(f"{method[:72]:72s} {m['label']:10s} {m['n']:3d} {m['scored']:3d} {m['flagged']:4d} {mean:>6s}")
    print("shifted audio on scored real clips:", json.dumps(result["shifted_audio"]))
    if args.clips:
        for r in rows:
            x = r["result"]
            print(f"  {str(r['label']):4s} {x.status:9s} score={x.score if x.score is None else round(x.score, 3)}"
                  f" offset={x.offset_s} corr={x.correlation if x.correlation is None else round(x.correlation, 2)}"
                  f" {r['path'].relative_to(data.dev_wild_dir())}")
    if args.json:
        clips = [{"path": str(r["path"]), "label": r["label"], "method": r["method"], **r["result"].to_dict()}
                 for r in rows]
        with open(args.json, "w") as fh:
            json.dump({"summary": result, "clips": clips}, fh, indent=1)


if __name__ == "__main__":
    main()
