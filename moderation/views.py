"""HTTP only. Moderator pages need ``detection.review_media`` (uploaders get 403); the uploader's report
goes through the owner-scoped detection selector (outsiders get 404)."""
import mimetypes

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from detection import formats, verdicts
from detection import selectors as detection_selectors
from detection.sendfile import private_file_response, ranged_file_response
from provenance import selectors as provenance_selectors

from . import charts, selectors, services, wording
from .models import ModerationItem

moderator_required = permission_required("detection.review_media", raise_exception=True)
PAGE_SIZE = 50

ACTION_CHOICES = wording.action_choices(services.REVIEW_ACTIONS)
BULK_CHOICES = wording.action_choices(services.BULK_ACTIONS)


@login_required
@require_POST
def report(request, pk: int):
    """The uploader says the verdict on their media is wrong."""
    media = get_object_or_404(detection_selectors.media_list_for_user(request.user), pk=pk)
    try:
        services.verdict_report(job=media.job, user=request.user, comment=request.POST.get("comment", ""))
    except services.ModerationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Thank you: a moderator will review this verdict.")
    return redirect("detection:result", pk=media.pk)


@login_required
@moderator_required
@require_GET
def queue(request):
    filters = {key: request.GET.get(key, "") for key in ("status", "verdict", "model_version", "reason", "provenance")}
    filters["status"] = request.GET.get("status", "pending")  # "all": no status filter
    sort = request.GET.get("sort", "-date")
    page = Paginator(selectors.item_queue(**filters, sort=sort), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "moderation/queue.html", {
        "page": page,
        "filters": filters,
        "sort": sort,
        "statuses": [("pending", "Pending (open or escalated)"), *ModerationItem.Status.choices, ("all", "All")],
        "reasons": ModerationItem.Reason.choices,
        "provenance_filters": provenance_selectors.QUEUE_FILTER_CHOICES,
        "model_versions": selectors.model_versions(),
        "bulk_actions": BULK_CHOICES,
        "verdict_choices": [(key, verdicts.WORDS[key]) for key in verdicts.KEYS],
        "query": request.GET.urlencode(),
    })


@login_required
@moderator_required
@require_POST
def bulk(request):
    ids = [int(x) for x in request.POST.getlist("items") if x.isdigit()]
    try:
        count = services.items_bulk_review(item_ids=ids, actor=request.user, action=request.POST.get("action", ""))
    except services.ModerationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{count} item{'s' if count != 1 else ''} updated.")
    back = request.POST.get("next", "")  # the queue's query string, to return to the same view
    return redirect(reverse("moderation:queue") + (f"?{back}" if back else ""))


def _get_item(pk: int) -> ModerationItem:
    try:
        return selectors.item_get(pk)
    except ModerationItem.DoesNotExist:
        raise Http404("No such item.")


@login_required
@moderator_required
def review(request, pk: int):
    item = _get_item(pk)
    if request.method == "POST":
        try:
            services.item_review(item_id=item.pk, actor=request.user, action=request.POST.get("action", ""),
                                 note=request.POST.get("note", ""))
        except services.ModerationError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Saved.")
        return redirect("moderation:review", pk=item.pk)
    job = item.job
    frames = list(job.frames.all()) if job.status == job.Status.DONE else []
    entries = list(selectors.item_audit_entries(item).select_related("actor"))
    for entry in entries:
        entry.sentence = wording.audit_sentence(entry)
    return render(request, "moderation/review.html", {
        "item": item,
        "job": job,
        "media": job.media,
        "frames": frames,
        "heatmap_frames": [f for f in frames if f.heatmap],
        "timeline": detection_selectors.timeline_points(frames),
        "band": settings.RESULT_INCONCLUSIVE_BAND,
        "clip_parts": detection_selectors.clip_parts_rows(job),
        "entries": entries,
        "actions": ACTION_CHOICES,
        # Issue 29: the voice and lip-sync evidence, with the flagged media's own player to seek.
        "voice": detection_selectors.voice_data(job, image_url=reverse("moderation:spectrogram", args=[job.media_id])),
        "sync": detection_selectors.sync_data(job),
        "driver": detection_selectors.verdict_driver_data(job),
        "confidence": verdicts.confidence(score=job.score, verdict=job.verdict_obj),
    })


def _file_response(field, content_type: str):
    response = private_file_response(field, content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@moderator_required
@require_GET
def media_file(request, pk: int):
    """A flagged item's original file. Media that is not flagged stays with its owner (404 here)."""
    media = get_object_or_404(selectors.flagged_media(), pk=pk)
    # Ranged, so the review page's player can seek (issue 29's per-second strip).
    response = ranged_file_response(request, media.file, formats.content_type(media.format),
                                    filename=media.original_name)
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@moderator_required
@require_GET
def media_preview(request, pk: int):
    """A flagged video's browser-playable preview (detection.previews), under the same check as the original."""
    media = get_object_or_404(selectors.flagged_media().select_related("job"), pk=pk)
    if not media.job.preview:
        raise Http404("No preview.")
    return ranged_file_response(request, media.job.preview, "video/mp4", filename=f"{media.pk}-preview.mp4")


@login_required
@moderator_required
@require_GET
def spectrogram(request, pk: int):
    """A flagged item's spectrogram (issue 29); media that is not flagged stays with its owner (404 here)."""
    media = get_object_or_404(selectors.flagged_media(), pk=pk)
    voice = detection_selectors.voice_row(media.job)
    if voice is None or not voice.image:
        raise Http404("No spectrogram.")
    return _file_response(voice.image, "image/png")


@login_required
@moderator_required
@require_GET
def frame_file(request, pk: int, which: str):
    frame = get_object_or_404(selectors.flagged_frames(), pk=pk)
    field = {"heatmap": frame.heatmap, "thumbnail": frame.thumbnail}.get(which)
    if not field:
        raise Http404("No such file.")
    return _file_response(field, mimetypes.guess_type(field.name)[0] or "application/octet-stream")


@login_required
@moderator_required
@require_GET
def health(request):
    health = selectors.model_health()
    drift = health["drift"]
    pictures = {
        "jobs": charts.jobs_per_day(health["per_day"]),
        "times": charts.processing_time_per_day(health["per_day"]),
        "scores": charts.score_histogram(drift["current_hist"], drift["reference_hist"]),
        "voice_scores": charts.score_histogram(health["voice_drift"]["current_hist"],
                                               health["voice_drift"]["reference_hist"]),
    }
    return render(request, "moderation/health.html", {"health": health, "charts": pictures})
