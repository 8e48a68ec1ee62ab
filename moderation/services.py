"""Writes: flag ended jobs, take uploader reports and moderator actions, each with an audit entry."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from detection import verdicts
from detection.models import DetectionJob, EvidenceStatus, VoiceEvidence
from provenance import selectors as provenance_selectors

from .models import AuditEntry, ModerationItem

Action = AuditEntry.Action
Status = ModerationItem.Status

# A review action and the status it leads to (a note changes nothing but the log).
ACTION_STATUS = {
    Action.CONFIRM_FAKE: Status.CONFIRMED_FAKE,
    Action.MARK_AUTHENTIC: Status.AUTHENTIC,
    Action.ESCALATE: Status.ESCALATED,
}
REVIEW_ACTIONS = (*ACTION_STATUS, Action.NOTE)
BULK_ACTIONS = tuple(ACTION_STATUS)


class ModerationError(Exception):
    pass


def audit_log(*, item: ModerationItem, actor: AbstractBaseUser | None, action: str, before: dict, after: dict) -> AuditEntry:
    """Record one action (like pretix ``LoggedModel.log_action``); entries are never changed."""
    return AuditEntry.objects.create(
        item=item,
        job_ref=item.job_id,
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "",
        action=action,
        before=before,
        after=after,
    )


def flag_reasons(job: DetectionJob) -> dict[str, bool]:
    """Which automatic reasons apply to an ended job: a high score, a score near its threshold, valid
    Content Credentials that say an AI tool made the file, speech the voice detector calls synthetic, or
    a file the tamper signal says may have been altered to evade detection.
    A failed job (no face, a detector error) has no score: only the AI-generation claim (or a synthetic
    voice, recorded beside a face analysis that failed) can flag it."""
    none = {"high_score": False, "inconclusive": False, "ai_claim": False, "synthetic_voice": False,
            "may_be_altered": False}
    if job.status not in (DetectionJob.Status.DONE, DetectionJob.Status.FAILED):
        return none
    ai_claim = provenance_selectors.has_ai_claim(media_id=job.media_id)  # issue 22
    voice = VoiceEvidence.objects.filter(job_id=job.pk, status=EvidenceStatus.OK).first()  # issue 29
    synthetic_voice = bool(voice and voice.score is not None and voice.threshold is not None
                           and voice.score >= voice.threshold)
    if job.status == DetectionJob.Status.FAILED or job.score is None:
        return {**none, "ai_claim": ai_claim, "synthetic_voice": synthetic_voice}
    high = job.score >= settings.MODERATION_SCORE_THRESHOLD
    inconclusive = job.verdict == verdicts.INCONCLUSIVE or (
        job.threshold is not None and abs(job.score - job.threshold) <= settings.MODERATION_INCONCLUSIVE_BAND)
    altered = job.verdict_reason == verdicts.MAY_BE_ALTERED  # issue 31: the tamper signal fired
    return {"high_score": high, "inconclusive": inconclusive, "ai_claim": ai_claim, "synthetic_voice": synthetic_voice,
            "may_be_altered": altered}


def _item_state(item: ModerationItem) -> dict:
    return {"status": item.status, "reasons": item.reasons}


def flag_if_needed(*, job_id: int) -> ModerationItem | None:
    """Called when a job ends (done or failed): flag it for review if a rule applies. Safe to call twice."""
    job = DetectionJob.objects.get(pk=job_id)
    reasons = flag_reasons(job)
    if not any(reasons.values()):
        return None
    try:
        with transaction.atomic():
            item, created = ModerationItem.objects.select_for_update().get_or_create(job=job, defaults=reasons)
            if created:
                audit_log(item=item, actor=None, action=Action.FLAG, before={}, after=_item_state(item))
    except IntegrityError:  # flagged by a concurrent call (or a report) at the same moment
        return ModerationItem.objects.get(job=job)
    return item


def verdict_report(*, job: DetectionJob, user: AbstractBaseUser, comment: str = "") -> ModerationItem:
    """The uploader says the verdict is wrong: flag the job (or reopen its review) once."""
    if job.media.owner_id != user.pk:
        raise ModerationError("Only the uploader can report a verdict.")
    if job.status != DetectionJob.Status.DONE:
        raise ModerationError("Only a finished analysis can be reported.")
    with transaction.atomic():
        item, created = ModerationItem.objects.select_for_update().get_or_create(job=job, defaults=flag_reasons(job))
        if item.reported:
            raise ModerationError("You have already reported this verdict.")
        before = {} if created else _item_state(item)
        item.reported = True
        item.report_comment = comment.strip()[:2000]
        item.reported_at = timezone.now()
        if item.is_reviewed:
            item.status = Status.OPEN  # reviewed before the report: a moderator looks again
        item.save()
        audit_log(item=item, actor=user, action=Action.REPORT, before=before,
                  after={**_item_state(item), "comment": item.report_comment})
    return item


def item_review(*, item_id: int, actor: AbstractBaseUser, action: str, note: str = "") -> ModerationItem:
    """A moderator's action on one item: confirm fake, mark authentic, escalate, or add a note."""
    if action not in REVIEW_ACTIONS:
        raise ModerationError(f"Unknown action {action!r}.")
    note = note.strip()[:4000]
    if action == Action.NOTE and not note:
        raise ModerationError("A note needs some text.")
    with transaction.atomic():
        item = ModerationItem.objects.select_for_update().get(pk=item_id)
        before = _item_state(item)
        if action in ACTION_STATUS:
            item.status = ACTION_STATUS[action]
            if item.is_reviewed:
                item.reviewed_by = actor
                item.reviewed_at = timezone.now()
            item.save(update_fields=["status", "reviewed_by", "reviewed_at"])
        after = _item_state(item) | ({"note": note} if note else {})
        audit_log(item=item, actor=actor, action=action, before=before, after=after)
    return item


def items_bulk_review(*, item_ids: list[int], actor: AbstractBaseUser, action: str) -> int:
    """The same status action on many items, each with its own audit entry. Returns how many."""
    if action not in BULK_ACTIONS:
        raise ModerationError(f"{action!r} is not a bulk action.")
    done = 0
    with transaction.atomic():
        for item_id in ModerationItem.objects.filter(pk__in=item_ids).values_list("pk", flat=True):
            item_review(item_id=item_id, actor=actor, action=action)
            done += 1
    return done
