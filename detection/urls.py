from django.urls import path

from . import views

app_name = "detection"

urlpatterns = [
    path("", views.upload, name="upload"),
    path("history/", views.history, name="history"),
    path("media/<int:pk>/", views.result, name="result"),
    path("media/<int:pk>/status/", views.status, name="status"),
    path("media/<int:pk>/file/", views.media_file, name="media_file"),
    path("media/<int:pk>/preview.mp4", views.media_preview, name="media_preview"),
    path("media/<int:pk>/delete/", views.delete, name="delete"),
    path("media/<int:pk>/spectrogram.png", views.spectrogram, name="spectrogram"),
    path("media/<int:pk>/report.json", views.report_json, name="report_json"),
    path("media/<int:pk>/report.pdf", views.report_pdf, name="report_pdf"),
    path("frames/<int:pk>/<str:which>/", views.frame_file, name="frame_file"),
]
