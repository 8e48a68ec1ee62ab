"""HTTP only: each view finds the object through its owner-scoped selector (outsiders get 404)."""
import mimetypes

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from . import selectors, services
from .forms import UploadForm

CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "mp4": "video/mp4",
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
    return render(request, "detection/history.html", {"media_list": selectors.media_list_for_user(request.user)})


@login_required
@require_GET
def result(request, pk: int):
    media = _get_media_for_user(request, pk)
    job = media.job
    context = {
        "media": media,
        "job": job,
        "status": selectors.job_status(job),
        "frames": job.frames.all() if job.status == job.Status.DONE else [],
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
    media = _get_media_for_user(request, pk)
    response = FileResponse(media.file.open("rb"), content_type=CONTENT_TYPES.get(media.format, "application/octet-stream"))
    response["Content-Disposition"] = f'inline; filename="{media.original_name}"'
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
def frame_file(request, pk: int, which: str):
    frame = get_object_or_404(selectors.frame_list_for_user(request.user), pk=pk)
    field = {"heatmap": frame.heatmap, "thumbnail": frame.thumbnail}.get(which)
    if not field:
        raise Http404("No such file.")
    content_type = mimetypes.guess_type(field.name)[0] or "application/octet-stream"
    response = FileResponse(field.open("rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response
