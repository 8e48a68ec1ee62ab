from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import profile_views, views

app_name = "api"

urlpatterns = [
    path("v1/analyses/", views.AnalysisListCreate.as_view(), name="analysis_list"),
    path("v1/analyses/<int:pk>/", views.AnalysisDetail.as_view(), name="analysis_detail"),
    path("v1/analyses/<int:pk>/report/", views.AnalysisReport.as_view(), name="analysis_report"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("tokens/", profile_views.token_create, name="token_create"),
    path("tokens/<int:pk>/revoke/", profile_views.token_revoke, name="token_revoke"),
    path("webhook-secret/rotate/", profile_views.webhook_secret_rotate, name="webhook_secret_rotate"),
]
