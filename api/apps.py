from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from detection.signals import job_ended

        from . import receivers

        job_ended.connect(receivers.on_job_ended, dispatch_uid="api.webhooks.on_job_ended")
