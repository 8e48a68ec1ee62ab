from django.apps import AppConfig


class ModerationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "moderation"
    verbose_name = "Moderation"

    def ready(self) -> None:
        from detection.signals import job_ended

        from . import receivers

        job_ended.connect(receivers.on_job_ended, dispatch_uid="moderation.on_job_ended")
