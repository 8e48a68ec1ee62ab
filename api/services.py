"""Writes: API tokens, webhook secrets, callbacks and their deliveries."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from deepfake_portal.celery import run_task
from detection.selectors import job_outcome
from detection.models import DetectionJob

from . import netcheck
from .models import ApiToken, Webhook, WebhookDelivery, WebhookSecret

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "dfp_"
SIGNATURE_HEADER = "X-Portal-Signature"


# --- tokens ---------------------------------------------------------------------------------------


def token_hash(raw: str) -> str:
    # Tokens are 256 random bits, so a plain sha256 is enough (no slow hash needed to resist guessing).
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    raw: str  # shown once, never stored


def token_create(*, user: AbstractBaseUser, name: str) -> NewToken:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name.strip()[:64] or "token", prefix=raw[:12],
                                    key_hash=token_hash(raw))
    return NewToken(token, raw)


def token_revoke(*, user: AbstractBaseUser, token_id: int) -> bool:
    """Revoke one of the user's own tokens; False when there is no such active token."""
    return bool(ApiToken.objects.filter(pk=token_id, user=user, revoked_at=None).update(revoked_at=timezone.now()))


def token_authenticate(raw: str) -> ApiToken | None:
    token = (ApiToken.objects.select_related("user")
             .filter(key_hash=token_hash(raw), revoked_at=None, user__is_active=True).first())
    if token is not None:
        now = timezone.now()
        if token.last_used is None or (now - token.last_used).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used=now)  # at most a write a minute
    return token


# --- webhooks -------------------------------------------------------------------------------------


def webhook_secret_for(*, user: AbstractBaseUser) -> WebhookSecret:
    secret, _ = WebhookSecret.objects.get_or_create(user=user, defaults={"secret": secrets.token_hex(32)})
    return secret


def webhook_secret_rotate(*, user: AbstractBaseUser) -> WebhookSecret:
    secret = webhook_secret_for(user=user)
    secret.secret = secrets.token_hex(32)
    secret.save(update_fields=["secret"])
    return secret


def callback_url_check(url: str) -> None:
    """Raise netcheck.UnsafeUrl for a URL the server must not call (private addresses, unless allowed)."""
    netcheck.check_callback_url(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE)


def webhook_attach(*, job: DetectionJob, url: str) -> Webhook:
    """Register the callback for a job (the first one wins); if the job already ended, deliver now."""
    webhook, _ = Webhook.objects.get_or_create(job=job, defaults={"url": url})
    job.refresh_from_db(fields=["status"])
    if job.is_final:  # ended before the callback was stored (a fast job, or a duplicate upload)
        webhook_job_ended(job_id=job.pk)
    return webhook


def webhook_job_ended(*, job_id: int) -> None:
    """The job is final: start delivering its callback, if it has one that has not started yet."""
    started = Webhook.objects.filter(job_id=job_id, state=Webhook.State.WAITING).update(state=Webhook.State.PENDING)
    if started:
        webhook = Webhook.objects.get(job_id=job_id)
        transaction.on_commit(partial(enqueue_delivery, webhook.pk))


DELIVER_TASK = "api.tasks.deliver_webhook"  # sent by name: this module never imports the tasks


def enqueue_delivery(webhook_id: int, countdown: float = 0) -> None:
    run_task(DELIVER_TASK, args=(webhook_id,), countdown=countdown)


def retry_delay(attempt: int) -> float:
    """Seconds before the next try after ``attempt`` failed ones: base, 2x base, 4x base, ..."""
    return settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_payload(job: DetectionJob) -> dict:
    media = job.media
    return {
        "event": f"analysis.{job.status}",
        "analysis": {
            "id": media.pk,
            "url": f"/api/v1/analyses/{media.pk}/",
            **job_outcome(job),
            "sha256": media.sha256,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        },
        "sent_at": timezone.now().isoformat(),
    }


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could lead to an address the URL check never saw.
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _post(url: str, body: bytes, headers: dict) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def webhook_deliver(*, webhook_id: int) -> bool:
    """Make one delivery attempt and record it. True: nothing more to do; False: try again later."""
    claimed = Webhook.objects.filter(pk=webhook_id, state=Webhook.State.PENDING,
                                     attempts__lt=settings.WEBHOOK_MAX_ATTEMPTS).update(attempts=F("attempts") + 1)
    if claimed != 1:
        logger.info("webhook %s: not pending (or out of attempts), skipping", webhook_id)
        return True
    webhook = Webhook.objects.select_related("job__media__owner").get(pk=webhook_id)
    body = json.dumps(webhook_payload(webhook.job), separators=(",", ":")).encode()
    secret = webhook_secret_for(user=webhook.job.media.owner).secret
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "DeepfakePortal-Webhook/1",
        SIGNATURE_HEADER: sign(secret, body),
        "X-Portal-Event": f"analysis.{webhook.job.status}",
        "X-Portal-Delivery": f"{webhook.pk}-{webhook.attempts}",
    }
    status_code, error = None, ""
    started = time.monotonic()
    try:
        callback_url_check(webhook.url)  # again: DNS may have changed since the URL was accepted
        status_code = _post(webhook.url, body, headers)
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except netcheck.UnsafeUrl as exc:
        error = str(exc)
    except Exception as exc:  # network errors of every kind are a failed attempt, recorded
        error = f"{type(exc).__name__}: {exc}"
    succeeded = not error
    WebhookDelivery.objects.create(
        webhook=webhook, attempt=webhook.attempts, status_code=status_code, error=error[:255],
        succeeded=succeeded, duration_ms=int((time.monotonic() - started) * 1000),
    )
    if succeeded or webhook.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        Webhook.objects.filter(pk=webhook.pk).update(
            state=Webhook.State.DELIVERED if succeeded else Webhook.State.FAILED, finished_at=timezone.now())
        if not succeeded:
            logger.warning("webhook %s: gave up after %s attempts (%s)", webhook.pk, webhook.attempts, error)
        return True
    return False
