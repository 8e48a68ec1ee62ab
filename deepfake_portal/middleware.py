"""Error answers people and clients can rely on: a database that is away for a moment (restart, failover)
answers 503 with Retry-After, not a 500; and under /api/ every error is a problem document (api.errors).

The page is a static template (no context processors, no session): rendering it needs no database.
Exceptions raised outside a view (e.g. while saving the session) reach ``server_error`` instead,
which makes the same decision.
"""
import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseServerError
from django.template import loader
from django.views.decorators.csrf import requires_csrf_token

from api.errors import problem_response

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5


def database_unavailable_response(request) -> HttpResponse:
    if request.path.startswith("/api/"):
        response = problem_response("unavailable", "The service is briefly unavailable; retry shortly.", 503)
    else:
        response = HttpResponse(loader.render_to_string("errors/503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DATABASE_ERRORS):
            logger.warning("database unavailable for %s %s: %s", request.method, request.path, exception)
            return database_unavailable_response(request)
        return None


@requires_csrf_token
def server_error(request, *args, **kwargs):
    """handler500: a database error anywhere in the request is a 503; anything else the usual 500."""
    import sys

    exception = sys.exc_info()[1]
    if isinstance(exception, DATABASE_ERRORS):
        return database_unavailable_response(request)
    if request.path.startswith("/api/"):
        return problem_response("server_error", "Something went wrong on our side; it has been logged.", 500)
    from django.views.defaults import server_error as default_server_error

    try:
        return default_server_error(request, *args, **kwargs)
    except Exception:  # noqa: BLE001 - a 500 page must not itself fail
        return HttpResponseServerError("<h1>Server Error (500)</h1>", content_type="text/html")


# Answers under /api/ that are not the API's own (the URL resolver's 404, a CSRF 403, Django's 400 for a
# malformed request, DEBUG's technical pages) become problem documents too; the docs pages stay HTML.
API_ERROR_CODES = {400: "invalid", 401: "not_authenticated", 403: "permission_denied", 404: "not_found",
                   405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}
API_HTML_PATHS = ("/api/docs/", "/api/schema/", "/api/tokens/", "/api/webhook-secret/")  # pages and the profile's forms


class ApiProblemMiddleware:
    """Every error answer under /api/ is application/problem+json (api.errors), whoever made it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (response.status_code >= 400 and request.path.startswith("/api/")
                and not request.path.startswith(API_HTML_PATHS)
                and "json" not in response.get("Content-Type", "")):
            status = response.status_code
            code = API_ERROR_CODES.get(status, "server_error" if status >= 500 else "invalid")
            words = {404: "No such resource.", 405: f"Method {request.method} is not allowed here."}
            replaced = problem_response(code, words.get(status, getattr(response, "reason_phrase", "") or code), status)
            for header in ("Retry-After", "Allow", "WWW-Authenticate"):
                if header in response:
                    replaced[header] = response[header]
            return replaced
        return response
