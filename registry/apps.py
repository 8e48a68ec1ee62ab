from django.apps import AppConfig


class RegistryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"
    verbose_name = "Model registry"

    def ready(self) -> None:
        from detection import detector
        from detection.signals import job_ended

        from . import receivers, serving

        job_ended.connect(receivers.on_job_ended, dispatch_uid="registry.on_job_ended")
        detector.serve_from(serving.serving_checkpoint)  # detection asks which checkpoint serves at every job
