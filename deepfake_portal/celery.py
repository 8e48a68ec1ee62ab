"""The Celery app. Broker: Redis when CELERY_BROKER_URL is set, else tasks run in-process (see settings)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepfake_portal.settings")

app = Celery("deepfake_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
