"""The moderation pages in words: review actions as buttons say them, and each audit entry as a sentence."""
from __future__ import annotations

from .models import AuditEntry, ModerationItem

# What a button does, in the imperative (the audit trail keeps AuditEntry.Action's past-tense labels).
ACTION_WORDS = {
    AuditEntry.Action.CONFIRM_FAKE: "Confirm as fake",
    AuditEntry.Action.MARK_AUTHENTIC: "Mark as authentic",
    AuditEntry.Action.ESCALATE: "Escalate to a senior moderator",
    AuditEntry.Action.NOTE: "Add the note only",
}

_DONE = {
    AuditEntry.Action.FLAG: "flagged it for review",
    AuditEntry.Action.REPORT: "reported the verdict as wrong",
    AuditEntry.Action.CONFIRM_FAKE: "confirmed it as fake",
    AuditEntry.Action.MARK_AUTHENTIC: "marked it as authentic",
    AuditEntry.Action.ESCALATE: "escalated it",
    AuditEntry.Action.NOTE: "added a note",
}


def action_choices(actions) -> list[tuple[str, str]]:
    return [(a, ACTION_WORDS.get(a, AuditEntry.Action(a).label)) for a in actions]


def _status_words(status: str | None) -> str:
    try:
        return ModerationItem.Status(status).label.lower()
    except ValueError:
        return str(status)


def _reasons_words(reasons) -> str:
    words = []
    for reason in reasons or []:
        try:
            words.append(ModerationItem.Reason(reason).label.lower())
        except ValueError:
            words.append(str(reason))
    return ", ".join(words)


def audit_sentence(entry: AuditEntry) -> str:
    """One entry as a sentence: who did what, why, and how the status changed."""
    who = entry.actor_name or "The system"
    before, after = entry.before or {}, entry.after or {}
    text = f"{who} {_DONE.get(entry.action, entry.get_action_display().lower())}"
    if entry.action == AuditEntry.Action.FLAG and after.get("reasons"):
        text += f" ({_reasons_words(after['reasons'])})"
    comment = after.get("comment") or after.get("note")
    if comment:
        text += f": “{comment}”"
    if before.get("status") and after.get("status") and before["status"] != after["status"]:
        text += f". Status: {_status_words(before['status'])} → {_status_words(after['status'])}"
    elif not before and after.get("status"):
        text += f". Status: {_status_words(after['status'])}"
    return text + "."
