"""Live sessions in Django admin: read-only bookkeeping."""
from django.contrib import admin

from .models import LiveSession


@admin.register(LiveSession)
class LiveSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "started_at", "ended_at", "end_reason", "frames_received", "frames_scored",
                    "frames_dropped", "saved")
    list_filter = ("end_reason", "started_at")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    readonly_fields = [f.name for f in LiveSession._meta.fields]

    def has_add_permission(self, request):
        return False
