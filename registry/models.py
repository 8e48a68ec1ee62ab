"""Tables of the model registry: detector versions, their audit trail, shadow scores and retraining runs."""
from django.conf import settings
from django.db import models

from detection.models import DetectionJob


class ModelVersion(models.Model):
    """One detector checkpoint: its file in private storage (named by sha256), its card and its state."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "candidate"
        SHADOW = "shadow", "shadow"
        SERVING = "serving", "serving"
        RETIRED = "retired", "retired"

    version = models.CharField(max_length=128, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE, db_index=True)
    card = models.JSONField(default=dict, blank=True)
    sha256 = models.CharField(max_length=64)
    file = models.CharField(max_length=255)  # a name in private storage: models/<sha256>.pt
    size = models.PositiveBigIntegerField(default=0)
    source = models.CharField(max_length=32, default="registered")  # embedded | registered | retrained
    gate = models.JSONField(default=dict, blank=True)  # the last gate run against the serving model
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    promoted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.version} ({self.status})"


class ModelEvent(models.Model):
    """The audit trail of the registry: every registration, shadowing, gate, promotion and rollback."""

    class Action(models.TextChoices):
        REGISTER = "register", "registered"
        SHADOW = "shadow", "put in shadow"
        UNSHADOW = "unshadow", "taken out of shadow"
        GATE = "gate", "gate run"
        PROMOTE = "promote", "promoted"
        REFUSE = "refuse", "promotion refused"
        ROLLBACK = "rollback", "rolled back"
        RETIRE = "retire", "retired"
        RETRAIN = "retrain", "retraining started"

    version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    version_name = models.CharField(max_length=128, blank=True)  # kept if the row goes
    action = models.CharField(max_length=16, choices=Action.choices, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=150, blank=True)  # "" for the system
    detail = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-pk"]


class ShadowScore(models.Model):
    """A shadow model's score for a finished job, beside the serving one; never shown to the uploader."""

    job = models.ForeignKey(DetectionJob, on_delete=models.CASCADE, related_name="shadow_scores")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="shadow_scores")
    score = models.FloatField(null=True, blank=True)
    label = models.CharField(max_length=8, blank=True)  # fake | real | "" (no verdict)
    error_code = models.CharField(max_length=32, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "version"], name="one_shadow_score_per_job_and_version")]


class RetrainRun(models.Model):
    """One retraining: what it was asked for, how far it got, and the candidate it registered."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    stage = models.CharField(max_length=32, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    minutes = models.FloatField(default=30)
    message = models.TextField(blank=True)
    candidate = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
