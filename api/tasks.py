"""Celery adapter: a webhook id in, one delivery attempt; owns the retries with exponential backoff."""
from celery import shared_task
from django.conf import settings

from . import services


@shared_task(bind=True, acks_late=True, max_retries=None, soft_time_limit=60, time_limit=90)
def deliver_webhook(self, webhook_id: int) -> None:
    # The number of attempts is bounded by the row (WEBHOOK_MAX_ATTEMPTS), not by Celery's counter.
    if not services.webhook_deliver(webhook_id=webhook_id):
        raise self.retry(countdown=services.retry_delay(self.request.retries + 1),
                         max_retries=settings.WEBHOOK_MAX_ATTEMPTS)
