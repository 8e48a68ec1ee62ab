"""The gate: candidate and serving scored side by side on a fixed set; promotion needs a margin and an ECE limit."""
from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from moderation.feedback import feedback_export

from . import serving, versions
from .models import ModelEvent, ModelVersion

logger = logging.getLogger(__name__)


def held_out(sha256: str) -> bool:
    """Reviewed items kept for the gate, never trained on: a fixed share, chosen by content hash."""
    return int(sha256[:8], 16) % max(1, settings.REGISTRY_GATE_HOLDOUT) == 0


def reviewed_items(work_dir: Path, *, gate: bool) -> list:
    """The moderators' reviewed media as ml Items (exported into ``work_dir``), either the held-out
    share (``gate=True``) or the rest (for training). One item per media: no media is in both."""
    from ml.items import Item

    rows = feedback_export(out_dir=work_dir / "reviewed")
    return [Item(path=str(work_dir / "reviewed" / r["path"]), label=int(r["label"] == "fake"), kind=r["kind"],
                 group=f"media-{r['media_id']}", source=f"review:{r['media_id']}")
            for r in rows if held_out(r["sha256"]) == gate]


def gate_items(work_dir: Path) -> list:
    """The gate set: the deployment's named evaluation media (REGISTRY_GATE_ITEMS) and the held-out reviews."""
    from ml.items import read_items

    items = read_items(settings.REGISTRY_GATE_ITEMS) if settings.REGISTRY_GATE_ITEMS else []
    return items + reviewed_items(work_dir, gate=True)


def _checkpoint(version: ModelVersion | None) -> tuple[Path, str, str, dict]:
    if version is None:  # an empty registry: the embedded default is what serves
        path = Path(settings.DETECTOR_CHECKPOINT)
        card = versions.read_card(path)
        from ml.paths import sha256_file

        return path, str(card.get("version", "embedded")), sha256_file(path), card
    return serving.local_file(version), version.version, version.sha256, version.card


def run_gate(candidate: ModelVersion, *, actor: AbstractBaseUser | None = None) -> dict:
    """Score candidate and serving on the gate set, decide, keep the result on the candidate's row."""
    from ml.evaluation.gate import compare, gate_metrics, score_items

    work_dir = Path(settings.REGISTRY_WORK_DIR)
    items = gate_items(work_dir)
    labels = [item.label for item in items]
    current = versions.serving_version()
    results = {}
    for role, version in (("candidate", candidate), ("serving", current)):
        path, name, sha, card = _checkpoint(version)
        scores = score_items(path, items, backend=settings.DETECTOR_BACKEND)
        threshold = card.get("threshold")
        results[role] = {"version": name, "sha256": sha,
                         **gate_metrics(labels, scores, 0.5 if threshold is None else float(threshold))}
    reasons = []
    if labels.count(1) == 0 or labels.count(0) == 0:
        passed = False
        reasons.append(f"The gate set needs real and fake items; it has {labels.count(0)} real and {labels.count(1)} fake "
                       "(set REGISTRY_GATE_ITEMS, or review more items).")
    else:
        passed, reasons = compare(results["candidate"], results["serving"], margin=settings.REGISTRY_GATE_MARGIN,
                                  ece_limit=settings.REGISTRY_GATE_ECE_LIMIT)
    result = {
        "passed": bool(passed), "reasons": reasons, "at": timezone.now().isoformat(timespec="seconds"),
        "items": len(items), "real": labels.count(0), "fake": labels.count(1),
        "margin": settings.REGISTRY_GATE_MARGIN, "ece_limit": settings.REGISTRY_GATE_ECE_LIMIT,
        "serving_version": results["serving"]["version"], "serving_sha256": results["serving"]["sha256"],
        "candidate": results["candidate"], "serving": results["serving"],
    }
    result = versions.plain_json(result)
    ModelVersion.objects.filter(pk=candidate.pk).update(gate=result)
    candidate.gate = result
    versions.audit(action=ModelEvent.Action.GATE, version=candidate, actor=actor, passed=result["passed"],
                   reasons=reasons, candidate=result["candidate"], serving=result["serving"])
    return result
