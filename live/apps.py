"""The live check app: a camera or a shared tab scored over a WebSocket while it plays."""
from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "live"
    default_auto_field = "django.db.models.BigAutoField"
