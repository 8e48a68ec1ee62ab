"""Writes for live sessions: open one within the per-user limit, keep it alive, close it, save it as an upload."""
from __future__ import annotations

import os
import tempfile
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from detection import intake

from .models import LiveSession
from .recording import Recording

HEARTBEAT_SECONDS = 10  # an open session's row is stamped this often
HEARTBEAT_TIMEOUT = 30  # an open row not stamped for this long belongs to a server that died: it no longer counts


def session_open(*, user: AbstractBaseUser) -> LiveSession | None:
    """A new session row, or None when the user already has LIVE_SESSIONS_PER_USER open ones."""
    now = timezone.now()
    fresh_after = now - timedelta(seconds=HEARTBEAT_TIMEOUT)
    with transaction.atomic():
        # One user's connects take turns (a row lock on the user), so two tabs cannot both squeeze in.
        get_user_model().objects.select_for_update().filter(pk=user.pk).exists()
        open_rows = LiveSession.objects.filter(user=user, ended_at=None)
        open_rows.filter(last_seen_at__lt=fresh_after).update(ended_at=now, end_reason="lost")
        if open_rows.count() >= settings.LIVE_SESSIONS_PER_USER:
            return None
        return LiveSession.objects.create(user=user, last_seen_at=now)


def session_touch(*, session_id: int, received: int, scored: int, dropped: int) -> None:
    LiveSession.objects.filter(pk=session_id, ended_at=None).update(
        last_seen_at=timezone.now(), frames_received=received, frames_scored=scored, frames_dropped=dropped)


def session_close(*, session_id: int, reason: str, received: int, scored: int, dropped: int) -> None:
    now = timezone.now()
    LiveSession.objects.filter(pk=session_id, ended_at=None).update(
        last_seen_at=now, ended_at=now, end_reason=reason[:32], frames_received=received, frames_scored=scored,
        frames_dropped=dropped)


def session_save(*, session_id: int, user: AbstractBaseUser, recording: Recording) -> intake.UploadResult:
    """The frames so far as a video, uploaded like any other file (same checks, limits, job and history).
    Raises detection.intake's UploadRejected (e.g. the hourly upload limit) or ValueError when nothing was recorded."""
    started = LiveSession.objects.filter(pk=session_id).values_list("started_at", flat=True).first() or timezone.now()
    name = f"live-{timezone.localtime(started):%Y-%m-%d-%H%M%S}.mp4"
    with tempfile.TemporaryDirectory(prefix="live-save-") as folder:
        path = os.path.join(folder, name)
        recording.write_video(path, fps=settings.LIVE_SAVE_FPS)
        with open(path, "rb") as fh:
            result = intake.media_upload(owner=user, uploaded=File(fh, name=name))
    LiveSession.objects.filter(pk=session_id).update(saved=F("saved") + 1)
    return result
