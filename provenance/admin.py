"""Provenance in Django admin: read-only (the worker writes it)."""
from django.contrib import admin

from .models import Provenance


@admin.register(Provenance)
class ProvenanceAdmin(admin.ModelAdmin):
    list_display = ("media", "c2pa_status", "signer", "digital_source_type", "ai_claim", "ai_label", "created")
    list_filter = ("c2pa_status", "ai_claim", "ai_label")
    search_fields = ("signer", "claim_generator", "media__original_name")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
