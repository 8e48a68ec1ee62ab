"""The WebSocket side of the ASGI app: origin check, then session or token auth, then the live socket."""
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from django.urls import path

from .auth import LiveOriginValidator, TokenAuthMiddleware
from .consumers import LiveConsumer

websocket_urlpatterns = [path("ws/live/", LiveConsumer.as_asgi(), name="live-socket")]

websocket_application = LiveOriginValidator(AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns))))
