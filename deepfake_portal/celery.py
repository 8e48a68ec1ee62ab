"""The Celery app. Broker: Redis when CELERY_BROKER_URL is set, else tasks run in-process (see settings)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepfake_portal.settings")

app = Celery("deepfake_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def run_task(name: str, *, args: tuple, **options):
    """Hand a task to the workers by its registered name, so writing code never imports a task module.

    With no broker (``CELERY_TASK_ALWAYS_EAGER``, `make run`) the task runs here and now, as
    ``apply_async`` would; ``options`` (queue, countdown) only matter with a broker.
    """
    from django.conf import settings

    if settings.CELERY_TASK_ALWAYS_EAGER:
        if name not in app.tasks:
            app.autodiscover_tasks(force=True)
        return app.tasks[name].apply(args=args)
    return app.send_task(name, args=args, **options)
