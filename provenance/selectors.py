"""Reads: one media's provenance, as the pages, reports and the API show it."""
from __future__ import annotations

from django.db.models import Q

from detection.models import Media

from .models import Provenance
from .words import provenance_data


def provenance_for(media: Media) -> dict | None:
    """The provenance dict of a media the caller may already see (None when it was never read)."""
    try:
        provenance = media.provenance
    except Provenance.DoesNotExist:
        return None
    return provenance_data(provenance)


def has_ai_claim(*, media_id: int) -> bool:
    """Valid Content Credentials of this media say an AI tool made it (a reason to flag it for review)."""
    return Provenance.objects.filter(media_id=media_id, ai_claim=True).exists()


# The moderators' queue filter: key -> (words, condition on the Provenance row).
QUEUE_FILTERS = {
    "ai_claim": ("AI-generation claim (valid Content Credentials)", {"ai_claim": True}),
    "ai_label": ("AI label in the metadata (unsigned)", {"ai_label": True}),
    "valid": ("Content Credentials valid", {"c2pa_status": Provenance.Status.VALID}),
    "problem": ("Content Credentials invalid, damaged or from an untrusted signer",
                {"c2pa_status__in": [Provenance.Status.INVALID, Provenance.Status.UNREADABLE,
                                     Provenance.Status.UNTRUSTED]}),
    "none": ("No Content Credentials", {"c2pa_status": Provenance.Status.NONE}),
}
QUEUE_FILTER_CHOICES = [(key, words) for key, (words, _) in QUEUE_FILTERS.items()]


def queue_filter(key: str, *, prefix: str) -> Q:
    """The condition for a queue filter key, on a model that reaches Media through ``prefix``
    (e.g. ``job__media__``); an unknown key filters nothing."""
    if key not in QUEUE_FILTERS:
        return Q()
    return Q(**{f"{prefix}provenance__{lookup}": value for lookup, value in QUEUE_FILTERS[key][1].items()})
