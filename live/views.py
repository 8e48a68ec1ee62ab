"""HTTP only: the live check page (the socket itself is live.consumers)."""
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET


@login_required
@require_GET
def live_page(request):
    config = {
        "socket": "/ws/live/",
        "maxFps": settings.LIVE_MAX_FPS,
        "maxFrameBytes": settings.LIVE_MAX_FRAME_BYTES,
        "maxSeconds": settings.LIVE_MAX_SECONDS,
    }
    return render(request, "live/live.html", {"config": config, "max_minutes": settings.LIVE_MAX_SECONDS // 60,
                                              "window": settings.LIVE_WINDOW_SECONDS})
