"""Reads for the API, always scoped to the user asking."""
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, QuerySet

from detection import selectors as detection_selectors
from detection.models import FrameResult, Media

from .models import ApiToken


def analysis_list_for_user(user: AbstractBaseUser, *, status: str = "", label: str = "") -> QuerySet[Media]:
    media = detection_selectors.media_list_for_user(user).select_related("job__webhook", "job__voice", "job__sync", "provenance")
    if status:
        media = media.filter(job__status=status)
    if label:
        media = media.filter(job__label=label)
    return media


def analysis_for_user(user: AbstractBaseUser, pk: int) -> Media | None:
    frames = Prefetch("job__frames", queryset=FrameResult.objects.order_by("time", "track", "id"))
    return analysis_list_for_user(user).prefetch_related(frames).filter(pk=pk).first()


def token_list_for_user(user: AbstractBaseUser) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user, revoked_at=None)
