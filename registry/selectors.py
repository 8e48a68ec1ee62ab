"""Reads of the registry for the moderators' health page: serving and shadow, and how the two compare."""
from __future__ import annotations

from moderation.models import ModerationItem

from .models import ModelEvent, ModelVersion, RetrainRun, ShadowScore

Status = ModelVersion.Status


def _label(score: float | None, threshold: float | None) -> str:
    if score is None:
        return ""
    return "fake" if score >= (0.5 if threshold is None else threshold) else "real"


def shadow_comparison(shadow: ModelVersion) -> dict:
    """Serving vs shadow on the jobs both scored: pairs, disagreements, and each one's accuracy on the items
    moderators have reviewed since (their label is the truth here)."""
    rows = (ShadowScore.objects.filter(version=shadow, score__isnull=False, job__score__isnull=False)
            .select_related("job").order_by("pk"))
    reviewed = dict(ModerationItem.objects.filter(job__in=[r.job_id for r in rows], status__in=ModerationItem.REVIEWED)
                    .values_list("job_id", "status"))
    shadow_threshold = shadow.card.get("threshold")
    pairs, disagree, right = [], 0, {"serving": 0, "shadow": 0}
    for row in rows:
        serving_label = _label(row.job.score, row.job.threshold)
        shadow_label = _label(row.score, shadow_threshold)
        truth = ModerationItem.LABELS.get(reviewed.get(row.job_id), "")
        pairs.append({"serving": row.job.score, "shadow": row.score, "agree": serving_label == shadow_label,
                      "truth": truth, "job": row.job_id})
        disagree += serving_label != shadow_label
        if truth:
            right["serving"] += serving_label == truth
            right["shadow"] += shadow_label == truth
    n_reviewed = sum(1 for p in pairs if p["truth"])
    failed = ShadowScore.objects.filter(version=shadow, score__isnull=True).count()
    return {
        "pairs": pairs, "n": len(pairs), "disagree": disagree, "failed": failed,
        "disagree_share": disagree / len(pairs) if pairs else None,
        "reviewed": n_reviewed,
        "serving_accuracy": right["serving"] / n_reviewed if n_reviewed else None,
        "shadow_accuracy": right["shadow"] / n_reviewed if n_reviewed else None,
        "serving_right": right["serving"], "shadow_right": right["shadow"],
        "shadow_threshold": 0.5 if shadow_threshold is None else shadow_threshold,
    }


def models_overview() -> dict:
    serving = ModelVersion.objects.filter(status=Status.SERVING).first()
    shadow = ModelVersion.objects.filter(status=Status.SHADOW).first()
    return {
        "serving": serving,
        "shadow": shadow,
        "candidates": list(ModelVersion.objects.filter(status=Status.CANDIDATE)[:5]),
        "events": list(ModelEvent.objects.all()[:8]),
        "last_run": RetrainRun.objects.first(),
        "comparison": shadow_comparison(shadow) if shadow is not None else None,
    }
