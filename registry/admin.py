"""Django admin for the registry: versions with promote / rollback / shadow actions, the audit log, retraining runs."""
from django.contrib import admin, messages

from . import gate, retraining, versions
from detection.card_table import card_table as render_card
from .models import ModelEvent, ModelVersion, RetrainRun, ShadowScore


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("version", "status", "source", "gate_passed", "created", "promoted_at", "promoted_by")
    list_filter = ("status", "source")
    search_fields = ("version", "sha256")
    # The card and the gate's answer as tables (issue 32), not JSON.
    readonly_fields = [f.name if f.name not in ("card", "gate") else f"{f.name}_table" for f in ModelVersion._meta.fields]
    exclude = ("card", "gate")
    actions = ["run_gate", "promote", "put_in_shadow", "take_out_of_shadow", "rollback", "retire"]

    def has_add_permission(self, request):  # versions are registered from files: manage.py models register
        return False

    @admin.display(description="model card")
    def card_table(self, obj):
        return render_card(obj.card)

    @admin.display(description="gate")
    def gate_table(self, obj):
        return render_card(obj.gate)

    @admin.display(boolean=True, description="gate passed")
    def gate_passed(self, obj):
        return obj.gate.get("passed") if obj.gate else None

    def _each(self, request, queryset, action, done: str):
        for version in queryset:
            try:
                action(version)
                self.message_user(request, f"{version.version}: {done}.", messages.SUCCESS)
            except versions.RegistryError as exc:
                self.message_user(request, f"{version.version}: {exc}", messages.ERROR)

    @admin.action(description="Run the gate against the serving model")
    def run_gate(self, request, queryset):
        for version in queryset:
            result = gate.run_gate(version, actor=request.user)
            level = messages.SUCCESS if result["passed"] else messages.WARNING
            self.message_user(request, f"{version.version}: gate {'passed' if result['passed'] else 'failed'}. "
                              + " ".join(result["reasons"]), level)

    @admin.action(description="Promote to serving (needs a passed gate)")
    def promote(self, request, queryset):
        self._each(request, queryset, lambda v: versions.promote(v, actor=request.user), "now serving")

    @admin.action(description="Put in shadow")
    def put_in_shadow(self, request, queryset):
        self._each(request, queryset, lambda v: versions.set_shadow(v, actor=request.user), "in shadow")

    @admin.action(description="Take out of shadow")
    def take_out_of_shadow(self, request, queryset):
        self._each(request, queryset, lambda v: versions.unshadow(v, actor=request.user), "out of shadow")

    @admin.action(description="Roll back to the previous serving version")
    def rollback(self, request, queryset):
        try:
            back = versions.rollback(actor=request.user)
            self.message_user(request, f"{back.version} serves again.", messages.SUCCESS)
        except versions.RegistryError as exc:
            self.message_user(request, str(exc), messages.ERROR)

    @admin.action(description="Retire")
    def retire(self, request, queryset):
        self._each(request, queryset, lambda v: versions.retire(v, actor=request.user), "retired")


@admin.register(ModelEvent)
class ModelEventAdmin(admin.ModelAdmin):
    list_display = ("created", "action", "version_name", "actor_name")
    list_filter = ("action",)
    readonly_fields = [f.name for f in ModelEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RetrainRun)
class RetrainRunAdmin(admin.ModelAdmin):
    """Adding a run starts a retraining on the long queue; the list shows its stage and progress."""

    list_display = ("created", "status", "stage", "progress", "minutes", "candidate", "created_by")
    fields = ("minutes",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in RetrainRun._meta.fields] if obj else []

    def get_fields(self, request, obj=None):
        return ["status", "stage", "progress", "minutes", "message", "candidate", "created_by", "created",
                "finished_at"] if obj else ["minutes"]

    def save_model(self, request, obj, form, change):
        if change:
            return
        run = retraining.start(actor=request.user, minutes=obj.minutes)
        obj.pk = run.pk
        self.message_user(request, f"Retraining {run.pk} queued ({run.minutes:g} minutes at most).", messages.SUCCESS)


@admin.register(ShadowScore)
class ShadowScoreAdmin(admin.ModelAdmin):
    list_display = ("job", "version", "score", "label", "error_code", "created")
    list_filter = ("version",)
    readonly_fields = [f.name for f in ShadowScore._meta.fields]

    def has_add_permission(self, request):
        return False
