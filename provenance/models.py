"""What an upload says about where it came from: its C2PA Content Credentials and unsigned AI labels."""
from django.db import models

from detection.models import Media

from . import manifest


class Provenance(models.Model):
    """One per media, written by the worker beside the detector's result (provenance.services)."""

    class Status(models.TextChoices):
        VALID = manifest.VALID, "Valid"
        UNTRUSTED = manifest.UNTRUSTED, "Signer not trusted"
        INVALID = manifest.INVALID, "Invalid"
        UNREADABLE = manifest.UNREADABLE, "Damaged"
        NONE = manifest.NONE, "None found"
        NOT_CHECKED = manifest.NOT_CHECKED, "Not checked"

    media = models.OneToOneField(Media, on_delete=models.CASCADE, related_name="provenance")
    c2pa_status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    c2pa_detail = models.CharField(max_length=255, blank=True)  # why invalid, damaged or not checked
    signer = models.CharField(max_length=255, blank=True)
    signed_at = models.CharField(max_length=40, blank=True)  # as the signature states it
    claim_generator = models.CharField(max_length=255, blank=True)
    digital_source_type = models.CharField(max_length=64, blank=True)  # IPTC key of the creating action
    says = models.CharField(max_length=255, blank=True)  # the manifest's claim in words
    c2pa_ai_generated = models.BooleanField(default=False)  # the manifest says an AI tool made it
    actions = models.JSONField(default=list, blank=True)
    ingredients = models.JSONField(default=list, blank=True)
    validation_codes = models.JSONField(default=list, blank=True)  # failure codes
    manifest_json = models.TextField(blank=True)  # the raw manifest store, for moderators
    manifest_truncated = models.BooleanField(default=False)
    labels = models.JSONField(default=list, blank=True)  # unsigned labels: source, field, value, meaning, ai
    # A valid (trusted) manifest that says an AI tool made it: the fact that flags the item for moderators.
    ai_claim = models.BooleanField(default=False, db_index=True)
    ai_label = models.BooleanField(default=False, db_index=True)  # an unsigned label says the same
    read_seconds = models.FloatField(default=0.0)
    error = models.CharField(max_length=255, blank=True)  # for the log: what went wrong reading
    created = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "provenance"

    def __str__(self) -> str:
        return f"provenance of media {self.media_id}: {self.c2pa_status}"
