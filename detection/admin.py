from django.contrib import admin

from .card_table import card_table as render_card
from .models import DetectionJob, FrameResult, Media


class DetectionJobInline(admin.StackedInline):
    model = DetectionJob
    extra = 0
    can_delete = False
    # The card as a table (issue 32); private files by name (they have no public URL to link to).
    readonly_fields = [{"model_card": "model_card_table", "preview": "preview_name"}.get(f.name, f.name)
                       for f in DetectionJob._meta.fields if f.name != "id"]
    exclude = ("model_card", "preview")

    @admin.display(description="preview")
    def preview_name(self, obj):
        return obj.preview.name or "—"

    @admin.display(description="model card")
    def model_card_table(self, obj):
        return render_card(obj.model_card)


@admin.register(Media)
class MediaAdmin(admin.ModelAdmin):
    list_display = ("id", "original_name", "owner", "kind", "size", "created")
    list_filter = ("kind", "created")
    search_fields = ("original_name", "sha256", "owner__username")
    list_select_related = ("owner",)
    readonly_fields = ("owner", "original_name", "sha256", "kind", "format", "file_name", "size", "duration", "width",
                       "height", "created")
    exclude = ("file",)
    inlines = [DetectionJobInline]

    @admin.display(description="file")
    def file_name(self, obj):
        return obj.file.name


class FrameResultInline(admin.TabularInline):
    model = FrameResult
    extra = 0
    can_delete = False
    readonly_fields = ("index", "time", "x0", "y0", "x1", "y1", "score", "track", "heatmap_name")
    exclude = ("heatmap", "thumbnail")

    @admin.display(description="heatmap")
    def heatmap_name(self, obj):
        return obj.heatmap.name or "—"


@admin.register(DetectionJob)
class DetectionJobAdmin(admin.ModelAdmin):
    list_display = ("id", "media", "status", "stage", "progress", "verdict", "score", "model_version", "attempts", "queued_at")
    list_filter = ("status", "verdict", "model_version", "error_code")
    list_select_related = ("media", "media__owner")
    readonly_fields = ("media",)
    inlines = [FrameResultInline]
