"""What a report of one analysis says: the JSON document (file, verdict, frames, model, times) and the model in words."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from . import selectors, verdicts
from .models import FrameResult, Media

REPORT_FORMAT = 1


@dataclass(frozen=True)
class ReportSection:
    """A part of every report that an app above detection adds (provenance does, at start-up)."""

    read: Callable[[Media], dict | None]  # its data in the JSON document, under the section's name
    draw: Callable[..., None]  # (data, *, heading, paragraph, fact): its part of the PDF


SECTIONS: dict[str, ReportSection] = {}


def add_section(name: str, *, read: Callable[[Media], dict | None], draw: Callable[..., None]) -> None:
    """Put a section into every report, after the verdict (called from the adding app's AppConfig.ready)."""
    SECTIONS[name] = ReportSection(read=read, draw=draw)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def report_data(media: Media) -> dict:
    """Everything a report holds: the file, the verdict, per-frame scores, the model card, the times."""
    job = media.job
    verdict = selectors.job_verdict(job)
    frames = list(FrameResult.objects.filter(job=job)) if job.status == job.Status.DONE else []
    return {
        "format": REPORT_FORMAT,
        "generated_at": _iso(timezone.now()),
        "file": {
            "name": media.original_name,
            "sha256": media.sha256,
            "kind": media.kind,
            "format": media.format,
            "size_bytes": media.size,
            "width": media.width,
            "height": media.height,
            "duration_seconds": media.duration,
        },
        "analysis": {
            "status": job.status,
            **verdicts.as_dict(verdict, job.score),  # verdict, verdict_words, confidence, reason, reason_words
            # Issue 29: which evidence drove the verdict (face | voice | sync | whole_image) and the rule.
            "verdict_driver": selectors.verdict_driver_data(job),
            "score": job.score,
            "threshold": job.threshold,
            "inconclusive_band": settings.RESULT_INCONCLUSIVE_BAND,
            "clip_parts": job.clip_parts if isinstance(job.clip_parts, dict) and job.clip_parts else None,
            "faces_found": job.faces_found,
            "error_code": job.error_code or None,
            "error_message": job.error_message or None,
        },
        "model": {"version": job.model_version or None, **(job.model_card or {})},
        "frames": [
            {
                "index": f.index,
                "time_seconds": round(f.time, 3),
                "track": f.track,
                "face_box": [f.x0, f.y0, f.x1, f.y1],
                "score": round(f.score, 6),
                "has_heatmap": bool(f.heatmap),
            }
            for f in frames
        ],
        "times": {
            "uploaded_at": _iso(media.created),
            "queued_at": _iso(job.queued_at),
            "started_at": _iso(job.started_at),
            "finished_at": _iso(job.finished_at),
            "stage_seconds": job.timings or {},
        },
        "caveat": HEATMAP_CAVEAT,
        **{name: section.read(media) for name, section in SECTIONS.items()},  # issue 22: "provenance"
        "voice": selectors.voice_data(job, image_url=reverse("detection:spectrogram", args=[media.pk])),  # issue 29: synthetic-speech evidence, per second
        "sync": selectors.sync_data(job),  # issue 29: lips against speech
    }


HEATMAP_CAVEAT = (
    "A heatmap shows where the model looked when it scored a face, not proof of manipulation. "
    "The verdict is a statistical estimate; treat it as one piece of evidence."
)


def _dig(tree, *path):
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def headline_figures(model: dict) -> list[str]:
    """The model card's few figures worth a reader's time, as phrases ("0.70 on 1,000 held-out face frames")."""
    metrics = model.get("metrics") if isinstance(model.get("metrics"), dict) else {}
    rule = model.get("clip_rule") or "lstm"
    candidates = (
        (("test", "frames_clean", "roc_auc"), ("test", "frames_clean", "n"), "held-out face frames"),
        (("test", "video_clips_shipped", "roc_auc"), ("test", "video_clips_shipped", "n"), "held-out video clips"),
        (("dev_robustness", "clean", "image_auc"), ("dev_robustness", "clean", "image_counts", "ok"),
         "independent dev images"),
        (("dev", f"video_{rule}", "roc_auc"), ("dev", f"video_{rule}", "n"), "independent dev videos"),
        # the CLIP detector's card (ml.training.clip_train): one block per split and kind
        (("test_video", "auc"), ("test_video", "n"), "held-out video clips"),
        (("dev_image", "auc"), ("dev_image", "n"), "independent dev images"),
        (("dev_video", "auc"), ("dev_video", "n"), "independent dev videos"),
        (("dev_th_video", "auc"), ("dev_th_video", "n"), "videos of talking-head generators it never saw"),
    )
    figures = []
    for value_path, n_path, words in candidates:
        value, n = _dig(metrics, *value_path), _dig(metrics, *n_path)
        if isinstance(value, (int, float)):
            figures.append(f"{value:.2f} on {n:,} {words}" if isinstance(n, int) else f"{value:.2f} on {words}")
    if not figures and isinstance(_dig(metrics, "validation", "frame_auc"), (int, float)):
        figures.append(f"{metrics['validation']['frame_auc']:.2f} on validation face frames")
    return figures


def model_paragraph(model: dict) -> str:
    """One short paragraph: the model's name, version, when it was trained and how well it did."""
    name = model.get("name") or "The portal's detector (features of each face crop, an LSTM over each face track)"
    parts = [f"{name}, version {model.get('version') or 'unknown'}"]
    if model.get("date"):
        parts[0] += f", trained {str(model['date'])[:10]}"
    if model.get("backend"):
        parts[0] += f", run with {'ONNX Runtime' if model['backend'] == 'onnx' else model['backend']}"
    text = parts[0] + "."
    figures = headline_figures(model)
    if figures:
        text += (" Its ROC AUC (1.0 is perfect, 0.5 is chance) is " + ", ".join(figures[:-1])
                 + (" and " if len(figures) > 1 else "") + figures[-1] + ".")
    if isinstance(model.get("threshold"), (int, float)):
        text += f" A score of {model['threshold']:.2f} or more reads as fake."
    if isinstance(model.get("calibration"), dict):
        text += (" Scores are calibrated on the validation clips: on data like them, about 8 in 10 items "
                 "scored 0.8 are fake.")
    text += " The model card lists its training data, method and known limits."
    return text
