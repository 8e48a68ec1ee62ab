"""Who may open a live socket: the page's own origin, and a logged-in user (session) or an API token.

Origins are checked as Channels' AllowedHostsOriginValidator does (ALLOWED_HOSTS, read at each
handshake), with one exception: a handshake with no Origin header at all that carries an
``Authorization`` header, which is a program with an API token (browsers always send Origin, and cannot
send that header on a WebSocket), so another site's page can never ride on a visitor's cookies.
"""
from __future__ import annotations

from types import SimpleNamespace

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions

from api.authentication import ApiTokenAuthentication


def _header(scope, name: bytes) -> bytes | None:
    return next((value for key, value in scope.get("headers", []) if key == name), None)


class LiveOriginValidator:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if _header(scope, b"origin") is None and _header(scope, b"authorization") is not None:
            return await self.application(scope, receive, send)
        hosts = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not hosts:  # as AllowedHostsOriginValidator
            hosts = ["localhost", "127.0.0.1", "[::1]"]
        return await OriginValidator(self.application, hosts)(scope, receive, send)


class TokenAuthMiddleware(BaseMiddleware):
    """``Authorization: Bearer <token>`` on the handshake: the token's user, whatever the session says;
    a bad or revoked token is nobody."""

    async def __call__(self, scope, receive, send):
        header = _header(scope, b"authorization")
        if header is not None:
            scope = dict(scope, user=await _token_user(header))
        return await super().__call__(scope, receive, send)


@database_sync_to_async
def _token_user(header: bytes):
    value = header.decode("latin1")
    request = SimpleNamespace(headers={"authorization": value}, META={"HTTP_AUTHORIZATION": value})
    try:
        found = ApiTokenAuthentication().authenticate(request)
    except exceptions.AuthenticationFailed:
        found = None
    return found[0] if found else AnonymousUser()
