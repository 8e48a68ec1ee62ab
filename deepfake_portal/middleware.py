"""A database that is away for a moment (restart, failover) answers 503 with Retry-After, not a 500.

The page is a static template (no context processors, no session): rendering it needs no database.
Exceptions raised outside a view (e.g. while saving the session) reach ``server_error`` instead,
which makes the same decision.
"""
import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseServerError
from django.template import loader
from django.views.decorators.csrf import requires_csrf_token

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5


def database_unavailable_response(request) -> HttpResponse:
    if request.path.startswith("/api/"):
        response = HttpResponse(
            '{"error": {"code": "unavailable", "message": "The service is briefly unavailable; retry shortly."}}',
            content_type="application/json", status=503,
        )
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
    from django.views.defaults import server_error as default_server_error

    try:
        return default_server_error(request, *args, **kwargs)
    except Exception:  # noqa: BLE001 - a 500 page must not itself fail
        return HttpResponseServerError("<h1>Server Error (500)</h1>", content_type="text/html")
