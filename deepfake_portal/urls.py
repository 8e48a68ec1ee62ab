from django.contrib import admin
from django.urls import include, path

from .views import home

handler500 = "deepfake_portal.middleware.server_error"  # a database error anywhere answers 503

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/", include("api.urls")),
    path("", home, name="home"),  # visitors: the front page; users: detection's upload view (also at "/")
    path("", include("moderation.urls")),
    path("", include("live.urls")),  # the live check page (its socket: deepfake_portal/asgi.py)
    path("", include("detection.urls")),
]
