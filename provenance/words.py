"""Provenance in words and as one JSON-ready dict: what the result page, the PDF, the report and the API show."""
from __future__ import annotations

from . import manifest

CAVEAT = ("Provenance is a fact only where it is found: a missing manifest or label proves nothing (most files "
          "carry none, and both are easily stripped), and unsigned metadata labels can be written by anyone. "
          "The verdict is the detector's.")


def c2pa_sentence(*, status: str, detail: str, signer: str, says: str) -> str:
    """"Content Credentials: valid, signed by ..., says: made with an AI tool" and the like."""
    signed_by = f"signed by {signer}" if signer else "signer not named"
    claim = f", says: {says}" if says else ""
    if status == manifest.VALID:
        return f"Content Credentials: valid, {signed_by}{claim}."
    if status == manifest.UNTRUSTED:
        return (f"Content Credentials: present, {signed_by}, but the signer is not on this portal's trust list, "
                f"so its claims are unverified{claim.replace(', says', '; it says')}.")
    if status == manifest.INVALID:
        return f"Content Credentials: present but invalid: {detail or 'the manifest does not validate'}."
    if status == manifest.UNREADABLE:
        return f"Content Credentials: present but damaged: {detail or 'the manifest cannot be read'}."
    if status == manifest.NOT_CHECKED:
        return f"Content Credentials: not checked: {detail or 'the reader failed'}."
    return "Content Credentials: none found."


def labels_sentence(labels: list[dict]) -> str:
    telling = [label for label in labels if label.get("meaning")]
    if not telling:
        return "Metadata labels: no AI-generation label found."
    parts = [f"{label['source']} {label['field']} says {label['meaning']}" for label in telling[:4]]
    return "Metadata labels (unsigned): " + "; ".join(parts) + "."


def provenance_data(provenance) -> dict | None:
    """Everything shown about one media's provenance (None: not read, e.g. uploaded before it was read)."""
    if provenance is None:
        return None
    labels = list(provenance.labels or [])
    return {
        "status": provenance.c2pa_status,
        "status_label": provenance.get_c2pa_status_display(),
        "summary": c2pa_sentence(status=provenance.c2pa_status, detail=provenance.c2pa_detail,
                                 signer=provenance.signer, says=provenance.says),
        "content_credentials": {
            "status": provenance.c2pa_status,
            "detail": provenance.c2pa_detail or None,
            "signer": provenance.signer or None,
            "signed_at": provenance.signed_at or None,
            "claim_generator": provenance.claim_generator or None,
            "digital_source_type": provenance.digital_source_type or None,
            "says": provenance.says or None,
            "ai_generated": provenance.c2pa_ai_generated,
            "actions": provenance.actions or [],
            "ingredients": provenance.ingredients or [],
            "validation_codes": provenance.validation_codes or [],
        },
        "labels": labels,
        "labels_summary": labels_sentence(labels),
        "ai_claim": provenance.ai_claim,
        "ai_label": provenance.ai_label,
        "caveat": CAVEAT,
    }
