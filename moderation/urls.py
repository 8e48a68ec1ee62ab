from django.urls import path

from . import views

app_name = "moderation"

urlpatterns = [
    path("media/<int:pk>/report/", views.report, name="report"),
    path("moderation/", views.queue, name="queue"),
    path("moderation/bulk/", views.bulk, name="bulk"),
    path("moderation/items/<int:pk>/", views.review, name="review"),
    path("moderation/media/<int:pk>/file/", views.media_file, name="media_file"),
    path("moderation/media/<int:pk>/spectrogram.png", views.spectrogram, name="spectrogram"),
    path("moderation/media/<int:pk>/preview.mp4", views.media_preview, name="media_preview"),
    path("moderation/frames/<int:pk>/<str:which>/", views.frame_file, name="frame_file"),
    path("moderation/health/", views.health, name="health"),
]
