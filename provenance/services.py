"""Writes: read an upload's provenance in the worker and store it, never failing the detector's job."""
from __future__ import annotations

import logging
import time

from django.conf import settings

from detection import formats
from detection.models import Media

from . import manifest
from .c2pa_reader import ReadLimits, read_manifest_store
from .labels import read_labels
from .models import Provenance

logger = logging.getLogger(__name__)

# Stored formats (``media.format``) that c2pa-python reads: mp4 stands for mov, m4v and 3gp too (one ISO
# base media family); mkv (also webm) and the rest carry no manifest it can read: none found.
C2PA_FORMATS = {"jpg", "png", "webp", "mp4", "avi"}


def read_limits() -> ReadLimits:
    return ReadLimits(timeout=settings.PROVENANCE_TIMEOUT_SECONDS, memory_mb=settings.PROVENANCE_MEMORY_MB,
                      max_bytes=settings.PROVENANCE_MAX_BYTES, max_json=settings.PROVENANCE_MAX_MANIFEST_JSON)


def provenance_read(*, media: Media, path: str, passthrough: tuple = ()) -> Provenance | None:
    """Read the file's Content Credentials and AI labels and store them on the media's Provenance row.

    Any failure is logged and returns None (the detector's job goes on); exceptions in ``passthrough``
    (the task's soft time limit) are raised.
    """
    started = time.monotonic()
    try:
        fields = _read(media, path)
        fields["read_seconds"] = round(time.monotonic() - started, 4)
        provenance, _ = Provenance.objects.update_or_create(media=media, defaults=fields)
        return provenance
    except passthrough:
        raise
    except Exception:  # noqa: BLE001 - provenance is beside the verdict, never in its way
        logger.exception("media %s: provenance not read", media.pk)
        return None


def _read(media: Media, path: str) -> dict:
    errors = []
    if media.format in C2PA_FORMATS:
        answer = read_manifest_store(path, mime=formats.content_type(media.format), anchors=settings.PROVENANCE_TRUST_ANCHORS,
                                     allowed=settings.PROVENANCE_ALLOWED_CERTS, limits=read_limits())
        if answer.error:
            errors.append(answer.error)
        summary, raw, truncated = manifest.summarise(answer), answer.store or "", answer.truncated
    else:  # webm, mkv: c2pa-python cannot carry a manifest in them
        summary, raw, truncated = manifest.C2paSummary(manifest.NONE), "", False
    try:
        labels = [label.as_dict() for label in read_labels(path, kind=media.kind)]
    except Exception as exc:  # noqa: BLE001 - damaged metadata: no labels, and a note for the log
        labels = []
        errors.append(f"labels: {type(exc).__name__}: {exc}")
    return {
        "c2pa_status": summary.status,
        "c2pa_detail": summary.detail[:255],
        "signer": summary.signer,
        "signed_at": summary.signed_at,
        "claim_generator": summary.claim_generator[:255],
        "digital_source_type": summary.digital_source_type,
        "says": summary.says[:255],
        "c2pa_ai_generated": summary.ai_generated,
        "actions": summary.actions,
        "ingredients": summary.ingredients,
        "validation_codes": summary.validation_codes,
        "manifest_json": raw,
        "manifest_truncated": truncated,
        "labels": labels,
        "ai_claim": summary.status == manifest.VALID and summary.ai_generated,
        "ai_label": any(label["ai"] for label in labels),
        "error": "; ".join(errors)[:255],
    }
