"""A live session's bookkeeping: who, when, how many frames. No frame, score or picture is kept here."""
from django.conf import settings
from django.db import models


class LiveSession(models.Model):
    """One open (or ended) live socket. Open ones count against LIVE_SESSIONS_PER_USER while their
    ``last_seen_at`` is fresh, so a server that died without closing its rows blocks nobody for long."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="live_sessions")
    started_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True, db_index=True)
    end_reason = models.CharField(max_length=32, blank=True)
    frames_received = models.PositiveIntegerField(default=0)
    frames_scored = models.PositiveIntegerField(default=0)
    frames_dropped = models.PositiveIntegerField(default=0)
    saved = models.PositiveSmallIntegerField(default=0)  # how many times it was saved as an upload

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"live session {self.pk} of {self.user}"
