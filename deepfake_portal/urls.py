from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from .views import home

handler500 = "deepfake_portal.middleware.server_error"  # a database error anywhere answers 503

urlpatterns = [
    # Browsers ask for /favicon.ico before they read the page's <link rel="icon">.
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.ico"), permanent=True)),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/", include("api.urls")),
    path("", home, name="home"),  # visitors: the front page; users: detection's upload view (also at "/")
    path("", include("moderation.urls")),
    path("", include("live.urls")),  # the live check page (its socket: deepfake_portal/asgi.py)
    path("", include("detection.urls")),
]
