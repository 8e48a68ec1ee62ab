"""API error codes beyond the upload codes (detection.errors, ml.errors), and the one shape every /api/ error has.

Every error under ``/api/`` (DRF's, the URL resolver's 404, a 500, a database 503) is an RFC 9457 problem
document, ``Content-Type: application/problem+json``::

    {"type": "urn:deepfake-portal:problem:not_found", "title": "Not found", "status": 404,
     "detail": "No such analysis.", "code": "not_found", "errors": {...field: [messages]}?}

``code`` is stable (the last part of ``type``); ``errors`` comes with ``invalid`` only. A 429 carries Retry-After.
"""
import json

from django.http import HttpResponse
from rest_framework import exceptions, status
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

    def __init__(self, code: str, message: str, status_code: int = status.HTTP_400_BAD_REQUEST, fields=None,
                 retry_after: int | None = None):
        super().__init__(message, code)
        self.status_code = status_code
        self.error_code = code
        self.fields = fields
        self.retry_after = retry_after


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


PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE = "urn:deepfake-portal:problem:"


def problem_body(code: str, message: str, status_code: int, fields=None) -> dict:
    """An RFC 9457 problem document with the stable ``code`` as an extension member."""
    body = {"type": PROBLEM_TYPE + code, "title": code.replace("_", " ").capitalize(), "status": status_code,
            "detail": message, "code": code}
    if fields:
        body["errors"] = fields
    return body


def api_exception_handler(exc, context):
    """DRF's handler (404s, auth headers, Retry-After), with the body rewritten as a problem document."""
    response = exception_handler(exc, context)
    if response is None:
        return None  # not an API error: a 500, answered by deepfake_portal.middleware.server_error
    if isinstance(exc, ApiError):
        response.data = problem_body(exc.error_code, str(exc.detail), response.status_code, exc.fields)
    else:
        code = next((code for kind, code in _CODES.items() if isinstance(exc, kind)), None)
        if code is None:
            code = NOT_FOUND if response.status_code == 404 else INVALID
        if isinstance(exc, exceptions.ValidationError):
            response.data = problem_body(code, "Some fields are not valid.", response.status_code, exc.detail)
        else:
            detail = getattr(exc, "detail", None) or "Not found."
            response.data = problem_body(code, str(detail), response.status_code)
    response.content_type = PROBLEM_CONTENT_TYPE
    if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS and "Retry-After" not in response:
        response["Retry-After"] = str(getattr(exc, "retry_after", None) or RETRY_AFTER_SECONDS)
    return response


RETRY_AFTER_SECONDS = 60  # for a 429 that knows no better (the hourly upload limit says its own)


def problem_response(code: str, message: str, status_code: int) -> HttpResponse:
    """A problem document outside DRF (the URL resolver's 404, a 500, a 503)."""
    return HttpResponse(json.dumps(problem_body(code, message, status_code)), status=status_code,
                        content_type=PROBLEM_CONTENT_TYPE)
