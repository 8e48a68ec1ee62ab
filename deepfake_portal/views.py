"""The front page: visitors who are not logged in learn what the portal does; users get the upload page."""
from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from detection import views as detection_views
from detection.sample import sample_for_page
from ml.media import decode as formats


@require_http_methods(["GET", "HEAD", "POST"])
def home(request):
    if request.user.is_authenticated or request.method == "POST":  # a visitor's POST: sent to log in
        return detection_views.upload(request)
    limits = {
        "max_mb": settings.UPLOAD_MAX_BYTES // (1024 * 1024),
        "max_minutes": settings.UPLOAD_MAX_SECONDS / 60,
        "video_types": ", ".join(formats.VIDEO_NAMES),
        "image_types": ", ".join(formats.IMAGE_NAMES),
        "audio_types": ", ".join(formats.AUDIO_NAMES),
    }
    return render(request, "home.html", {"limits": limits, "sample": sample_for_page()})
