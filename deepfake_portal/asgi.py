"""The ASGI entry point: Django's pages over HTTP, the live check (live/) over WebSockets."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepfake_portal.settings")
django_application = get_asgi_application()  # first: sets Django up before the consumers are imported

from channels.routing import ProtocolTypeRouter  # noqa: E402

from live.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter({"http": django_application, "websocket": websocket_application})
