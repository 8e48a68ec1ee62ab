from django.contrib import admin

from registry.card_table import card_table as render_card

from .models import DetectionJob, FrameResult, Media


class DetectionJobInline(admin.StackedInline):
    model = DetectionJob
    extra = 0
    can_delete = False
    readonly_fields = [f.name if f.name != "model_card" else "model_card_table" for f in DetectionJob._meta.fields
                       if f.name != "id"]

    @admin.display(description="model card")
    def model_card_table(self, obj):
        return render_card(obj.model_card)


@admin.register(Media)
class MediaAdmin(admin.ModelAdmin):
    list_display = ("id", "original_name", "owner", "kind", "size", "created")
    list_filter = ("kind", "created")
    search_fields = ("original_name", "sha256", "owner__username")
    list_select_related = ("owner",)
    readonly_fields = ("owner", "original_name", "sha256", "kind", "format", "file", "size", "duration", "width", "height", "created")
    inlines = [DetectionJobInline]


class FrameResultInline(admin.TabularInline):
    model = FrameResult
    extra = 0
    can_delete = False
    readonly_fields = ("index", "time", "x0", "y0", "x1", "y1", "score", "track", "heatmap", "thumbnail")


@admin.register(DetectionJob)
class DetectionJobAdmin(admin.ModelAdmin):
    list_display = ("id", "media", "status", "stage", "progress", "verdict", "score", "model_version", "attempts", "queued_at")
    list_filter = ("status", "verdict", "model_version", "error_code")
    list_select_related = ("media", "media__owner")
    readonly_fields = ("media",)
    inlines = [FrameResultInline]
