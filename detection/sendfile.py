"""Private files to a request that a view has already checked: Django streams them, or (when
MEDIA_ACCEL_REDIRECT_PREFIX is set) nginx does, told by an X-Accel-Redirect header.

Views call this only after their owner- or moderator-scoped lookup, so the permission check is always
Django's; nginx's location for the prefix must be ``internal`` so it cannot be requested directly.
"""
from urllib.parse import quote

from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpResponse


def accel_redirect_enabled() -> bool:
    return bool(settings.MEDIA_ACCEL_REDIRECT_PREFIX)


def private_file_response(field: FieldFile, content_type: str) -> HttpResponse:
    prefix = settings.MEDIA_ACCEL_REDIRECT_PREFIX
    if prefix:
        response = HttpResponse(content_type=content_type)
        # Storage names are random hex under uploads/ or jobs/<id>/; quote anyway, never a raw path.
        response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + quote(field.name.lstrip("/"))
        return response
    return FileResponse(field.open("rb"), content_type=content_type)
