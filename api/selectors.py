"""Reads for the API, always scoped to the user asking."""
import math
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django.db.models import Prefetch, QuerySet

from detection import selectors as detection_selectors
from detection.models import FrameResult, Media

from .models import ApiToken


def analysis_list_for_user(user: AbstractBaseUser, *, status: str = "", verdict: str = "") -> QuerySet[Media]:
    media = detection_selectors.media_list_for_user(user).select_related("job__webhook", "job__voice", "job__sync", "job__whole_image", "provenance")
    if status:
        media = media.filter(job__status=status)
    if verdict:
        media = media.filter(job__verdict=verdict)
    return media


def upload_retry_after(user: AbstractBaseUser) -> int:
    """Seconds until the hourly upload limit lets this user upload again (at least 1)."""
    since = timezone.now() - timedelta(hours=1)
    oldest = Media.objects.filter(owner=user, created__gte=since).order_by("created").values_list("created", flat=True)
    first = oldest.first()
    return max(1, math.ceil((first - since).total_seconds())) if first else 1


def analysis_for_user(user: AbstractBaseUser, pk: int) -> Media | None:
    frames = Prefetch("job__frames", queryset=FrameResult.objects.order_by("time", "track", "id"))
    return analysis_list_for_user(user).prefetch_related(frames).filter(pk=pk).first()


def token_list_for_user(user: AbstractBaseUser) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user, revoked_at=None)
