from django.contrib import admin
from django.urls import include, path

handler500 = "deepfake_portal.middleware.server_error"  # a database error anywhere answers 503

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/", include("api.urls")),
    path("", include("moderation.urls")),
    path("", include("detection.urls")),
]
