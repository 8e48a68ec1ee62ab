"""A flagged job under review, and the immutable audit trail of what people did to it."""
from django.conf import settings
from django.db import models

from detection import verdicts
from detection.models import DetectionJob


class ModerationItem(models.Model):
    """One flagged detection job. Created by ``services.flag_if_needed`` or an uploader's report."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ESCALATED = "escalated", "Escalated"
        CONFIRMED_FAKE = "confirmed_fake", "Confirmed fake"
        AUTHENTIC = "authentic", "Marked authentic"

    REVIEWED = (Status.CONFIRMED_FAKE, Status.AUTHENTIC)
    # The label a reviewed status gives the media (what export_feedback writes).
    LABELS = {Status.CONFIRMED_FAKE: "fake", Status.AUTHENTIC: "real"}

    class Reason(models.TextChoices):
        HIGH_SCORE = "high_score", "High score"
        INCONCLUSIVE = "inconclusive", "Inconclusive"
        REPORTED = "reported", "Reported by uploader"
        AI_CLAIM = "ai_claim", "AI-generation claim (Content Credentials)"
        SYNTHETIC_VOICE = "synthetic_voice", "Synthetic voice"
        MAY_BE_ALTERED = "may_be_altered", "May have been altered to evade detection"

    job = models.OneToOneField(DetectionJob, on_delete=models.CASCADE, related_name="moderation")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    # One flag per reason, since a job can be both inconclusive and reported.
    high_score = models.BooleanField(default=False)
    inconclusive = models.BooleanField(default=False)
    reported = models.BooleanField(default=False)
    # Valid Content Credentials say an AI tool made it (provenance/, issue 22).
    ai_claim = models.BooleanField(default=False)
    # The voice detector scored the speech at or above its threshold (issue 29).
    synthetic_voice = models.BooleanField(default=False)
    # The tamper signal fired: the score jumps under harmless changes (issue 31, ml/inference/tamper.py).
    may_be_altered = models.BooleanField(default=False)
    report_comment = models.TextField(blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    flagged_at = models.DateTimeField(auto_now_add=True, db_index=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-flagged_at", "-id"]

    def __str__(self) -> str:
        return f"moderation of job {self.job_id} ({self.status})"

    @property
    def reasons(self) -> list[str]:
        return [r.value for r in self.Reason if getattr(self, REASON_FIELDS[r.value])]

    @property
    def reason_labels(self) -> list[str]:
        return [self.Reason(r).label for r in self.reasons]

    @property
    def is_reviewed(self) -> bool:
        return self.status in self.REVIEWED

    @property
    def outcome_words(self) -> str:
        """The outcome in the verdicts' vocabulary ("Confirmed fake by a moderator", "Under review")."""
        return verdicts.outcome_words(self.status)

    @property
    def moderator_label(self) -> str:
        return self.LABELS.get(self.status, "")


REASON_FIELDS = {
    ModerationItem.Reason.HIGH_SCORE: "high_score",
    ModerationItem.Reason.INCONCLUSIVE: "inconclusive",
    ModerationItem.Reason.REPORTED: "reported",
    ModerationItem.Reason.AI_CLAIM: "ai_claim",
    ModerationItem.Reason.SYNTHETIC_VOICE: "synthetic_voice",
    ModerationItem.Reason.MAY_BE_ALTERED: "may_be_altered",
}


class AuditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("audit entries are immutable")

    def delete(self):
        raise PermissionError("audit entries are immutable")


class AuditEntry(models.Model):
    """Who did what to which item, with the state before and after. Written once, never changed.

    The job id and actor name are copied so an entry still reads right after the media or the user is
    deleted (the foreign keys then become null).
    """

    class Action(models.TextChoices):
        FLAG = "flag", "Flagged"
        REPORT = "report", "Reported by uploader"
        CONFIRM_FAKE = "confirm_fake", "Confirmed fake"
        MARK_AUTHENTIC = "mark_authentic", "Marked authentic"
        ESCALATE = "escalate", "Escalated"
        NOTE = "note", "Note"

    item = models.ForeignKey(
        ModerationItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    job_ref = models.PositiveBigIntegerField(db_index=True)  # the job's id, kept if the item goes
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=150, blank=True)  # "" for the system
    action = models.CharField(max_length=16, choices=Action.choices, db_index=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.actor_name or 'system'} {self.action} job {self.job_ref}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("audit entries are immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit entries are immutable")
