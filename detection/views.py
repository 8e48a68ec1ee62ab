"""HTTP only: each view finds the object through its owner-scoped selector (outsiders get 404)."""
import json
import mimetypes
import os

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import reports, selectors, services
from .sendfile import private_file_response, ranged_file_response
from .forms import UploadForm

CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    "avi": "video/x-msvideo",
}


def _get_media_for_user(request, pk: int):
    return get_object_or_404(selectors.media_list_for_user(request.user), pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def upload(request):
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = services.media_upload(owner=request.user, uploaded=form.cleaned_data["file"])
        except services.UploadRejected as exc:
            form.add_error("file", exc.message)
        else:
            return redirect("detection:result", pk=result.media.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "detection/upload.html", {"form": form}, status=status)


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
        "frames": frames,
        "heatmap_frames": [f for f in frames if f.heatmap],
        "timeline": selectors.timeline_points(frames),
        "band": settings.RESULT_INCONCLUSIVE_BAND,
        "stages": [(key, label) for key, label in selectors.STAGE_LABELS.items() if key not in ("done", "failed")],
    }
    return render(request, "detection/result.html", context)


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
    content_type = CONTENT_TYPES.get(media.format, "application/octet-stream")
    return ranged_file_response(request, media.file, content_type, filename=media.original_name)


@login_required
@require_POST
def delete(request, pk: int):
    media = _get_media_for_user(request, pk)
    name = media.original_name
    services.media_delete(media=media)
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
    response = HttpResponse(reports.report_pdf(media), content_type="application/pdf")
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
