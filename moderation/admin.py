"""Moderation in Django admin: read-only. Changes go through the moderator pages, which write the audit log."""
from django.contrib import admin

from .models import AuditEntry, ModerationItem


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AuditEntryInline(admin.TabularInline):
    model = AuditEntry
    extra = 0
    can_delete = False
    fields = ("created", "actor_name", "action", "before", "after")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created", "actor_name", "action", "job_ref", "item")
    list_filter = ("action", "created")
    search_fields = ("actor_name", "job_ref")
    list_select_related = ("item",)
    readonly_fields = ("item", "job_ref", "actor", "actor_name", "action", "before", "after", "created")


@admin.register(ModerationItem)
class ModerationItemAdmin(ReadOnlyAdmin):
    list_display = ("id", "job", "status", "high_score", "inconclusive", "reported", "flagged_at", "reviewed_by")
    list_filter = ("status", "high_score", "inconclusive", "reported", "job__verdict", "job__model_version")
    list_select_related = ("job", "reviewed_by")
    readonly_fields = ("job", "status", "high_score", "inconclusive", "reported", "report_comment", "reported_at",
                       "flagged_at", "reviewed_by", "reviewed_at")
    inlines = [AuditEntryInline]
