"""Deletion: remove an upload, its job and frame rows, then all their stored files."""
from __future__ import annotations

import logging
from functools import partial

from django.db import transaction

from .models import FrameResult, Media
from .storage import private_storage, remove_quietly

logger = logging.getLogger(__name__)


def media_delete(*, media: Media) -> None:
    """Remove an upload, its job and frame rows, and then (once that is committed) all their files."""
    names = [media.file.name]
    job = getattr(media, "job", None)
    if job is not None:
        for heatmap, thumbnail in FrameResult.objects.filter(job=job).values_list("heatmap", "thumbnail"):
            names += [heatmap, thumbnail]
    job_prefix = f"jobs/{job.pk}/" if job is not None else None
    with transaction.atomic():
        media.delete()
        transaction.on_commit(partial(_remove_files, [name for name in names if name], job_prefix))


def _remove_files(names: list[str], prefix: str | None) -> None:
    remove_quietly(names)
    if prefix:
        try:
            private_storage.delete_prefix(prefix)
        except Exception:  # noqa: BLE001 - the orphan sweep finds what is left
            logger.warning("could not remove %s from storage", prefix, exc_info=True)
