"""API error codes beyond the upload codes (detection.errors, ml.errors) and the JSON every error has.

Every error response is ``{"error": {"code": "...", "message": "...", "fields": {...}?}}``; ``code`` is stable.
"""
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from detection import errors as detection_errors

NOT_AUTHENTICATED = "not_authenticated"
PERMISSION_DENIED = "permission_denied"
NOT_FOUND = "not_found"
THROTTLED = "throttled"
INVALID = "invalid"
METHOD_NOT_ALLOWED = "method_not_allowed"
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
NOT_FINISHED = "not_finished"
JOB_RUNNING = "job_running"
UNSAFE_CALLBACK_URL = "unsafe_callback_url"

# The upload service's rejections answer with these statuses; every other upload code is a 400.
UPLOAD_STATUS = {detection_errors.RATE_LIMITED: status.HTTP_429_TOO_MANY_REQUESTS,
                 "too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                 detection_errors.STORAGE_UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE}


class ApiError(exceptions.APIException):
    """An error with a stable code, raised by the API's own views."""

    def __init__(self, code: str, message: str, status_code: int = status.HTTP_400_BAD_REQUEST, fields=None):
        super().__init__(message, code)
        self.status_code = status_code
        self.error_code = code
        self.fields = fields


_CODES = {
    exceptions.NotAuthenticated: NOT_AUTHENTICATED,
    exceptions.AuthenticationFailed: NOT_AUTHENTICATED,
    exceptions.PermissionDenied: PERMISSION_DENIED,
    exceptions.NotFound: NOT_FOUND,
    exceptions.Throttled: THROTTLED,
    exceptions.MethodNotAllowed: METHOD_NOT_ALLOWED,
    exceptions.UnsupportedMediaType: UNSUPPORTED_MEDIA_TYPE,
    exceptions.ParseError: INVALID,
    exceptions.ValidationError: INVALID,
}


def error_body(code: str, message: str, fields=None) -> dict:
    error = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def api_exception_handler(exc, context):
    """DRF's handler (404s, auth headers, Retry-After), with the body rewritten to the stable shape."""
    response = exception_handler(exc, context)
    if response is None:
        return None  # not an API error: a 500, logged by Django
    if isinstance(exc, ApiError):
        response.data = error_body(exc.error_code, str(exc.detail), exc.fields)
        return response
    code = next((code for kind, code in _CODES.items() if isinstance(exc, kind)), None)
    if code is None:
        code = NOT_FOUND if response.status_code == 404 else INVALID
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(code, "Some fields are not valid.", exc.detail)
    else:
        detail = getattr(exc, "detail", None) or "Not found."
        response.data = error_body(code, str(detail))
    return response


def error_response(code: str, message: str, status_code: int) -> Response:
    return Response(error_body(code, message), status=status_code)
