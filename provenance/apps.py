from django.apps import AppConfig


class ProvenanceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "provenance"
    verbose_name = "Provenance"

    def ready(self) -> None:
        from detection import reports
        from detection.signals import job_file_opened

        from . import pdf, receivers, selectors

        job_file_opened.connect(receivers.on_job_file_opened, dispatch_uid="provenance.on_job_file_opened")
        reports.add_section("provenance", read=selectors.provenance_for, draw=pdf.draw_provenance)
