from django.contrib import admin

from .models import ApiToken, Webhook, WebhookDelivery


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created", "last_used", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["user", "prefix", "key_hash", "created", "last_used"]


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    extra = 0
    can_delete = False
    readonly_fields = ["attempt", "status_code", "error", "succeeded", "duration_ms", "sent_at"]


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ["job", "url", "state", "attempts", "created", "finished_at"]
    list_filter = ["state"]
    readonly_fields = ["job", "url", "attempts", "created", "finished_at"]
    inlines = [WebhookDeliveryInline]
