"""Intake: check an upload (rate, size, type), store its bytes and create its media row and job."""
from __future__ import annotations

import hashlib
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from ml.errors import MediaError
from ml.media.decode import Limits, probe

from . import errors, queues
from .models import DetectionJob, Media
from .storage import STORAGE_ERRORS, private_storage, remove_quietly

logger = logging.getLogger(__name__)


class UploadRejected(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class UploadResult:
    media: Media
    created: bool  # False: the same user already uploaded this content


def upload_limits() -> Limits:
    return Limits(
        max_bytes=settings.UPLOAD_MAX_BYTES,
        max_seconds=settings.UPLOAD_MAX_SECONDS,
        max_side=settings.UPLOAD_MAX_SIDE,
    )


def _sanitised_name(name: str) -> str:
    base = os.path.basename((name or "").replace("\\", "/"))
    try:
        clean = get_valid_filename(base)
    except Exception:  # SuspiciousFileOperation for names like ".."
        clean = ""
    return clean[:200] or "upload"


def _receive(uploaded: UploadedFile, dest: str, max_bytes: int) -> tuple[str, int]:
    """Copy the upload to ``dest`` while hashing; stop early once it is over the size limit."""
    digest = hashlib.sha256()
    size = 0
    with open(dest, "wb") as out:
        for chunk in uploaded.chunks():
            size += len(chunk)
            if size > max_bytes:
                raise UploadRejected("too_large", f"The file is larger than {max_bytes // (1024 * 1024)} MB.")
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


NAMED_TYPES = {"mp3", "wav", "m4a", "aac", "ogg", "opus", "flac", "mp4", "mov", "webm", "avi", "mkv",
               "jpg", "jpeg", "png", "webp"}


def _named_like_media(exc: MediaError, name: str | None) -> str:
    """The probe's message, plus what the name claimed when the name says a type the content is not."""
    ext = os.path.splitext(name or "")[1].lower().lstrip(".")
    if exc.code == errors.ml_errors.UNSUPPORTED_TYPE and ext in NAMED_TYPES:
        return f"{exc.message} Its name ends in .{ext}, but what it holds is not {ext} (the content decides, not the name)."
    return exc.message


def media_upload(*, owner: AbstractBaseUser, uploaded: UploadedFile) -> UploadResult:
    """Validate and store an upload, create its job and enqueue it once the transaction commits.

    The same owner uploading identical bytes gets the existing media (and its job) back.
    """
    since = timezone.now() - timedelta(hours=1)
    if Media.objects.filter(owner=owner, created__gte=since).count() >= settings.UPLOADS_PER_HOUR:
        raise UploadRejected(errors.RATE_LIMITED, errors.MESSAGES[errors.RATE_LIMITED])

    # The bytes land in a local file first (probed, hashed): in the storage folder itself when it is
    # local (then renamed into place), else in a temporary folder and then uploaded to the bucket.
    if private_storage.is_local:
        incoming_dir = os.path.join(private_storage.path(""), "uploads")
    else:
        incoming_dir = settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir()
    os.makedirs(incoming_dir, exist_ok=True)
    incoming = os.path.join(incoming_dir, f".incoming-{secrets.token_hex(16)}")
    stored_name = None
    try:
        limits = upload_limits()
        sha256, size = _receive(uploaded, incoming, limits.max_bytes)
        try:
            info = probe(incoming, limits)
        except MediaError as exc:
            raise UploadRejected(exc.code, _named_like_media(exc, uploaded.name)) from exc

        existing = Media.objects.filter(owner=owner, sha256=sha256).first()
        if existing is not None:
            return UploadResult(existing, created=False)

        name = f"uploads/{secrets.token_hex(16)}.{info.format}"
        if private_storage.is_local:
            os.replace(incoming, private_storage.path(name))
        else:
            stored_name = name  # a half-written object is removed below
            try:
                private_storage.save_file(name, incoming)
            except STORAGE_ERRORS as exc:
                logger.warning("upload not stored: %s", exc)
                raise UploadRejected(errors.STORAGE_UNAVAILABLE, errors.MESSAGES[errors.STORAGE_UNAVAILABLE]) from exc
        stored_name = name
        try:
            with transaction.atomic():
                media = Media.objects.create(
                    owner=owner,
                    original_name=_sanitised_name(uploaded.name),
                    sha256=sha256,
                    kind=info.kind,
                    format=info.format,
                    file=name,
                    size=size,
                    duration=round(info.duration, 3),
                    width=info.width,
                    height=info.height,
                )
                job = DetectionJob.objects.create(media=media)
                transaction.on_commit(partial(queues.enqueue_analysis, job.pk))
        except IntegrityError:
            # The same content arrived twice at once: keep the first.
            private_storage.delete(stored_name)
            stored_name = None
            return UploadResult(Media.objects.get(owner=owner, sha256=sha256), created=False)
        return UploadResult(media, created=True)
    except BaseException:
        # Not committed: remove the stored file (if this process dies first, the sweeper's orphan pass does).
        if stored_name and not Media.objects.filter(file=stored_name).exists():
            remove_quietly([stored_name])
        raise
    finally:
        if os.path.exists(incoming):
            os.unlink(incoming)
