"""Celery adapters of the registry: a retraining run and a shadow score, each one service call."""
from celery import shared_task

from . import retraining, shadow


@shared_task(acks_late=True, ignore_result=True)
def retrain(run_id: int) -> None:
    retraining.run(run_id)


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=600, time_limit=660)
def shadow_score(job_id: int, version_id: int) -> None:
    shadow.score(job_id, version_id)
