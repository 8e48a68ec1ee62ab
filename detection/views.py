"""HTTP only: each view finds the object through its owner-scoped selector (outsiders get 404)."""
import json
import mimetypes
import os

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import deletion, formats, intake, report_drawing, reports, selectors
from .sendfile import private_file_response, ranged_file_response
from .forms import UploadForm


def _get_media_for_user(request, pk: int):
    return get_object_or_404(selectors.media_list_for_user(request.user), pk=pk)


def _wants_json(request) -> bool:
    """The upload page's script asks for JSON (one request per file); a plain form post gets HTML."""
    return "application/json" in request.headers.get("Accept", "")


def _size_words(n: int) -> str:
    """Django's filesizeformat as the pages word a limit: "200 MB" rather than "200.0 MB"."""
    return filesizeformat(n).replace("\xa0", " ").replace(".0 ", " ")


def _human_seconds(s: float) -> str:
    if s >= 60 and s % 60 == 0:
        minutes = int(s // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{s:g} second{'s' if s != 1 else ''}"


def upload_limits_context() -> dict:
    """The limits the upload service enforces and the accepted formats, in words for the upload and front
    pages (and in numbers for the upload page's script)."""
    limits = intake.upload_limits()
    return {
        "max_bytes": limits.max_bytes,
        "max_size": _size_words(limits.max_bytes),
        "max_duration": _human_seconds(limits.max_seconds),
        "max_minutes": limits.max_seconds / 60,
        "max_side": f"{limits.max_side:,}",
        "per_hour": settings.UPLOADS_PER_HOUR,
        **formats.page_context(),
    }


@login_required
@require_http_methods(["GET", "POST"])
def upload(request):
    # A post is always bound, so one whose file never arrived (cut short: Django keeps only complete
    # parts) gets the form's "no file" error rather than a bare form.
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    if request.method == "POST" and form.is_valid():
        try:
            result = intake.media_upload(owner=request.user, uploaded=form.cleaned_data["file"])
        except intake.UploadRejected as exc:
            form.add_error("file", ValidationError(exc.message, code=exc.code))
        else:
            if _wants_json(request):
                media = result.media
                return JsonResponse({
                    "ok": True,
                    "created": result.created,
                    "id": media.pk,
                    "name": media.original_name,
                    "kind": media.kind,
                    "result_url": reverse("detection:result", args=[media.pk]),
                    "status_url": reverse("detection:status", args=[media.pk]),
                    "status": selectors.job_status(media.job),
                }, status=201 if result.created else 200)
            return redirect("detection:result", pk=result.media.pk)
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and _wants_json(request):
        errors = [e for field_errors in form.errors.get_json_data().values() for e in field_errors]
        return JsonResponse({"ok": False, "error": " ".join(e["message"] for e in errors), "errors": errors},
                            status=status)
    return render(request, "detection/upload.html", {"form": form, "limits": upload_limits_context()},
                  status=status)


@login_required
@require_GET
def history(request):
    page, sort = selectors.history_page_for_user(
        request.user, sort=request.GET.get("sort", ""), page=request.GET.get("page") or 1
    )
    context = {"page": page, "media_list": page.object_list, "sort": sort,
               "sort_options": selectors.HISTORY_SORT_LABELS}
    return render(request, "detection/history.html", context)


@login_required
@require_GET
def result(request, pk: int):
    media = _get_media_for_user(request, pk)
    job = media.job
    frames = list(job.frames.all()) if job.status == job.Status.DONE else []
    context = {
        "media": media,
        "job": job,
        "status": selectors.job_status(job),
        "verdict": selectors.job_verdict(job),
        "confidence": selectors.job_confidence(job),
        "clip_parts": selectors.clip_parts_rows(job),
        "frames": frames,
        "heatmap_frames": [f for f in frames if f.heatmap],
        "timeline": selectors.timeline_points(frames),
        "band": settings.RESULT_INCONCLUSIVE_BAND,
        "stages": [(key, label) for key, label in selectors.STAGE_LABELS.items()
                   if key not in ("done", "failed") and _stage_applies(key, media.kind)],
        # Issue 29: the voice and lip-sync evidence, and what drove the verdict.
        "voice": selectors.voice_data(job, image_url=reverse("detection:spectrogram", args=[media.pk])),
        "sync": selectors.sync_data(job),
        "driver": selectors.verdict_driver_data(job),
    }
    return render(request, "detection/result.html", context)


def _stage_applies(stage: str, kind: str) -> bool:
    """An audio upload has no face stages; an image has no sound stages."""
    sound = stage in ("voice", "spectrogram", "sync")
    if kind == "audio":
        return stage in ("queued", "starting", "voice", "spectrogram")
    return not sound if kind == "image" else stage != "spectrogram"


@login_required
@require_GET
def spectrogram(request, pk: int):
    """The spectrogram the worker drew of the upload's sound (owner-only, like every file here)."""
    media = _get_media_for_user(request, pk)
    voice = selectors.voice_row(media.job)
    if voice is None or not voice.image:
        raise Http404("No spectrogram.")
    response = private_file_response(voice.image, "image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
def status(request, pk: int):
    media = _get_media_for_user(request, pk)
    return JsonResponse(selectors.job_status(media.job))


@login_required
@require_GET
def media_file(request, pk: int):
    """The upload itself, to its owner; answers HTTP Range requests so a video player can seek."""
    media = _get_media_for_user(request, pk)
    content_type = formats.content_type(media.format)
    return ranged_file_response(request, media.file, content_type, filename=media.original_name)


@login_required
@require_GET
def media_preview(request, pk: int):
    """The H.264/AAC copy the worker made of a video browsers cannot play (detection.previews), ranged."""
    media = _get_media_for_user(request, pk)
    if not media.job.preview:
        raise Http404("No preview.")
    stem = os.path.splitext(media.original_name)[0] or "upload"
    return ranged_file_response(request, media.job.preview, "video/mp4", filename=f"{stem}-preview.mp4")


@login_required
@require_POST
def delete(request, pk: int):
    media = _get_media_for_user(request, pk)
    name = media.original_name
    deletion.media_delete(media=media)
    messages.success(request, f"Deleted {name} and its analysis.")
    return redirect("detection:history")


def _report_name(media, ext: str) -> str:
    stem = os.path.splitext(media.original_name)[0] or "upload"
    return f"{stem}-report.{ext}"


@login_required
@require_GET
def report_json(request, pk: int):
    media = _get_media_for_user(request, pk)
    body = json.dumps(reports.report_data(media), indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, _report_name(media, "json"))
    return response


@login_required
@require_GET
def report_pdf(request, pk: int):
    media = _get_media_for_user(request, pk)
    response = HttpResponse(report_drawing.report_pdf(media), content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(True, _report_name(media, "pdf"))
    return response


@login_required
@require_GET
def frame_file(request, pk: int, which: str):
    frame = get_object_or_404(selectors.frame_list_for_user(request.user), pk=pk)
    field = {"heatmap": frame.heatmap, "thumbnail": frame.thumbnail}.get(which)
    if not field:
        raise Http404("No such file.")
    content_type = mimetypes.guess_type(field.name)[0] or "application/octet-stream"
    response = private_file_response(field, content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response
