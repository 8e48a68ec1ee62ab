"""The front page: visitors who are not logged in learn what the portal does; users get the upload page."""
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from detection import views as detection_views


@require_http_methods(["GET", "HEAD", "POST"])
def home(request):
    if request.user.is_authenticated or request.method == "POST":  # a visitor's POST: sent to log in
        return detection_views.upload(request)
    return render(request, "home.html", {"limits": detection_views.upload_limits_context()})
