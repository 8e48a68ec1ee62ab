"""The attack suite's table, from its cached rows (``ml.evaluation.attack_suite --table``)."""
from __future__ import annotations

from collections import defaultdict

ORDER = ("pgd", "pgd_eot_tamper", "pgd_tamper_aware", "pgd_eot_purify", "clip_pgd", "clip_pgd_h264", "transfer",
         "square_api_rounding", "square_unrounded")
WORDS = {
    "pgd": "white-box PGD (crops), stops once authentic",
    "pgd_eot_tamper": "adaptive PGD, EOT over the tamper check's changes (BPDA)",
    "pgd_tamper_aware": "adaptive PGD knowing the tamper check, its signal in the loss",
    "pgd_eot_purify": "adaptive PGD, EOT + BPDA through purification (scored purified)",
    "clip_pgd": "white-box PGD (6-frame clips, clip rule)",
    "clip_pgd_h264": "clip PGD with BPDA through H.264, then H.264 CRF 23",
    "transfer": "transfer from Lite0 surrogate (10-step PGD)",
    "square_api_rounding": "black-box Square, API score rounded to 2 decimals",
    "square_unrounded": "black-box Square, unrounded score",
}


def markdown(rows: list[dict], name: str, threshold: float | None = None) -> str:
    """``threshold``: the tamper threshold to judge the stored signal by (default: as recorded in the rows)."""
    if threshold is not None:  # re-judge with the final threshold; the check only ran below threshold + band
        rows = [r | {"fired": r.get("tamper") is not None and r["tamper"] > threshold} for r in rows]
        rows = [r | {"success_after": bool(r.get("authentic")) and not r["fired"]} for r in rows]
    first: dict[tuple, dict] = {}
    for r in rows:  # two runs may have done the same item: the first result counts
        first.setdefault((r["attack"], r["eps"], r["path"]), r)
    rows = list(first.values())
    clean = {r["path"]: r for r in rows if r["attack"] == "clean"}
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for r in rows:
        if r["attack"] != "clean":
            groups[(r["attack"], r["eps"])].append(r)
    methods = {clean[p]["method"] for p in clean}
    lines = [f"Attacks on `{name}`: {sum(1 for r in clean.values() if r['set'] == 'image')} fake crops and "
             f"{sum(1 for r in clean.values() if r['set'] == 'video')} fake clips scored clean "
             f"({len(methods)} methods); attacked: those not already \"likely authentic\".",
             "Success = ends \"likely authentic\" (calibrated score < threshold - band). Before: the detector "
             "alone. After: with the tamper check (fired = \"inconclusive: may have been altered\", to moderators)"
             + (f", threshold {threshold}." if threshold is not None else "."), "",
             "| attack | eps/255 | n | success before | success after | tamper fired | median queries | s/item |",
             "|---|---|---|---|---|---|---|---|"]
    for attack in ORDER:
        for eps in sorted({e for a, e in groups if a == attack}):
            g = groups[(attack, eps)]
            before = sum(r["authentic"] for r in g)
            after = sum(r["success_after"] for r in g)
            fired = sum(r["fired"] for r in g)
            q = sorted(r["queries"] for r in g if "queries" in r)
            qtxt = (f"{q[len(q) // 2]} (max {g[0]['max_queries']})" if q else "")
            sec = sorted(r.get("seconds", 0) for r in g)[len(g) // 2]
            lines.append(f"| {WORDS.get(attack, attack)} | {eps} | {len(g)} | {before}/{len(g)} ({before / len(g):.0%}) | "
                         f"{after}/{len(g)} ({after / len(g):.0%}) | {fired}/{len(g)} | {qtxt} | {sec:.0f} |")
    return "\n".join(lines) + "\n"
