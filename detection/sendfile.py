"""Private files to a request that a view has already checked, from either storage backend.

- Local storage: Django streams the file, or (MEDIA_ACCEL_REDIRECT_PREFIX set) nginx does, told by an
  X-Accel-Redirect header; nginx's location for the prefix must be ``internal``.
- Object storage: Django streams the object (one GET, or one ranged GET for a Range request), or, with
  PRIVATE_STORAGE_REDIRECT, answers 302 with a presigned URL that lasts PRIVATE_STORAGE_URL_SECONDS and
  lets the object store answer (Range requests included).

Views call this only after their owner- or moderator-scoped lookup, so the permission check is always
Django's; nothing here is reachable without it.
"""
import re
from urllib.parse import quote

from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.utils.http import content_disposition_header

from .storage import private_storage


def accel_redirect_enabled() -> bool:
    return bool(settings.MEDIA_ACCEL_REDIRECT_PREFIX) and private_storage.is_local


def presigned_redirect_enabled() -> bool:
    return settings.PRIVATE_STORAGE_REDIRECT and not private_storage.is_local


def _presigned(field: FieldFile, content_type: str, disposition: str) -> HttpResponse:
    response = HttpResponseRedirect(private_storage.presigned_url(
        field.name, content_type=content_type, disposition=disposition))
    response["Cache-Control"] = "private, no-store"  # the URL expires; never cache the redirect
    return response


def private_file_response(field: FieldFile, content_type: str, *, disposition: str = "") -> HttpResponse:
    if presigned_redirect_enabled():
        return _presigned(field, content_type, disposition)
    prefix = settings.MEDIA_ACCEL_REDIRECT_PREFIX
    if accel_redirect_enabled():
        response = HttpResponse(content_type=content_type)
        # Storage names are random hex under uploads/ or jobs/<id>/; quote anyway, never a raw path.
        response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + quote(field.name.lstrip("/"))
    elif private_storage.is_local:
        response = FileResponse(field.open("rb"), content_type=content_type)
    else:
        response = StreamingHttpResponse(private_storage.stream(field.name), content_type=content_type)
        response["Content-Length"] = str(private_storage.size(field.name))
    if disposition:
        response["Content-Disposition"] = disposition
    return response


def ranged_file_response(request, field: FieldFile, content_type: str, *, filename: str) -> HttpResponse:
    """The whole file, or the single byte range the request asks for (206; 416 outside the file), so a
    video player can seek. Behind nginx or with presigned URLs, they answer Range requests themselves."""
    disposition = content_disposition_header(False, filename)
    if presigned_redirect_enabled() or accel_redirect_enabled():
        response = private_file_response(field, content_type, disposition=disposition)
    else:
        size = private_storage.size(field.name)
        byte_range = parse_range(request.headers.get("Range", ""), size)
        if byte_range is None:
            response = private_file_response(field, content_type, disposition=disposition)
        elif byte_range == "unsatisfiable":
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        else:
            start, end = byte_range
            response = StreamingHttpResponse(private_storage.stream(field.name, start, end), status=206,
                                             content_type=content_type)
            response["Content-Range"] = f"bytes {start}-{end}/{size}"
            response["Content-Length"] = str(end - start + 1)
            response["Content-Disposition"] = disposition
    if response.status_code != 302:
        response["Accept-Ranges"] = "bytes"
        response["Cache-Control"] = "private, max-age=3600"
    return response


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str, size: int):
    """(start, end) inclusive for a single "bytes=" range; None to send the whole file (no header, or
    one we do not handle such as several ranges); "unsatisfiable" for a range outside the file."""
    match = _RANGE.match(header.strip())
    if not match or (not match[1] and not match[2]):
        return None
    if match[1]:
        start = int(match[1])
        end = min(int(match[2]), size - 1) if match[2] else size - 1
    else:  # the last N bytes
        start, end = max(0, size - int(match[2])), size - 1
    if start >= size or start > end:
        return "unsatisfiable"
    return start, end
