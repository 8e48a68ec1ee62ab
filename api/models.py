"""API tokens (only their hash is stored), per-user webhook secrets, callbacks and every delivery attempt."""
from django.conf import settings
from django.db import models

from detection.models import DetectionJob


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=64)
    prefix = models.CharField(max_length=12)  # the token's first characters, shown so people can tell tokens apart
    key_hash = models.CharField(max_length=64, unique=True)  # sha256 of the whole token
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.user})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class WebhookSecret(models.Model):
    """The key a user's callbacks are signed with (HMAC-SHA256); shown on the profile page."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_secret")
    secret = models.CharField(max_length=64)
    created = models.DateTimeField(auto_now_add=True)


class Webhook(models.Model):
    """The callback URL of one analysis, and where its delivery stands."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting for the analysis to end"
        PENDING = "pending", "Being delivered"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Gave up"

    job = models.OneToOneField(DetectionJob, on_delete=models.CASCADE, related_name="webhook")
    url = models.URLField(max_length=500)
    state = models.CharField(max_length=10, choices=State.choices, default=State.WAITING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"webhook for job {self.job_id} ({self.state})"


class WebhookDelivery(models.Model):
    """One POST to a callback URL: what came back, or why nothing did."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    attempt = models.PositiveSmallIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)
    succeeded = models.BooleanField(default=False)
    duration_ms = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["webhook", "attempt"]

    def __str__(self) -> str:
        return f"delivery {self.attempt} of {self.webhook}"
