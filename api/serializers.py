"""The JSON shapes of the API (reads), and the upload form (create)."""
from django.core.exceptions import ObjectDoesNotExist
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from detection import formats, verdicts
from detection.models import DetectionJob, FrameResult, Media
from detection.selectors import job_outcome, stage_label, sync_data, verdict_driver_data, voice_data
from provenance.selectors import provenance_for
from provenance.serializers import ProvenanceSerializer

from .evidence_serializers import SyncSerializer, VerdictDriverSerializer, VoiceSerializer


class AnalysisCreateSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True,
                                 help_text=f"A {formats.IN_WORDS}; the type is decided from the content.")
    callback_url = serializers.URLField(required=False, max_length=500, help_text="POSTed (signed) when the "
                                        "analysis ends; must resolve to a public address.")


class FrameSerializer(serializers.ModelSerializer):
    box = serializers.SerializerMethodField()
    heatmap_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = FrameResult
        fields = ["index", "time", "track", "score", "box", "heatmap_url", "thumbnail_url"]

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField(), min_length=4, max_length=4))
    def get_box(self, frame) -> list[int]:
        return [frame.x0, frame.y0, frame.x1, frame.y1]

    def _file_url(self, frame, which: str) -> str | None:
        if not getattr(frame, which):
            return None
        url = reverse("detection:frame_file", args=[frame.pk, which])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_heatmap_url(self, frame):
        return self._file_url(frame, "heatmap")

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_thumbnail_url(self, frame):
        return self._file_url(frame, "thumbnail")


class ClipPartsSerializer(serializers.Serializer):
    """How a clip's score was made (ml.inference.result.Prediction.clip_parts), calibrated like the score."""

    rule = serializers.CharField()
    frame_mean = serializers.FloatField()
    topk_mean = serializers.FloatField()
    temporal = serializers.FloatField(allow_null=True)
    frames_above = serializers.IntegerField()
    frames = serializers.IntegerField()


class WebhookSummarySerializer(serializers.Serializer):
    url = serializers.URLField()
    state = serializers.CharField()
    attempts = serializers.IntegerField()


class AnalysisSerializer(serializers.ModelSerializer):
    """One upload and its job, flattened: the analysis id is the upload's id (as in the browser's URLs)."""

    status = serializers.ChoiceField(source="job.status", choices=DetectionJob.Status.choices)
    stage = serializers.CharField(source="job.stage")
    stage_label = serializers.SerializerMethodField()
    progress = serializers.IntegerField(source="job.progress", min_value=0, max_value=100)
    final = serializers.BooleanField(source="job.is_final")
    verdict = serializers.SerializerMethodField(help_text="fake | authentic | inconclusive, once decided "
                                                "(detection.verdicts: the words on every page)")
    verdict_words = serializers.SerializerMethodField(help_text="The verdict as every page words it")
    confidence = serializers.SerializerMethodField(help_text="0-1, how sure of a fake or authentic verdict; "
                                                   "null for inconclusive")
    reason = serializers.SerializerMethodField(help_text="Why inconclusive: near_threshold, low_quality, "
                                               "no_face, signals_disagree, may_be_altered")
    reason_words = serializers.SerializerMethodField()
    clip_parts = serializers.SerializerMethodField(help_text="The parts of a clip score (videos)")
    score = serializers.FloatField(source="job.score", allow_null=True, help_text="probability of fake")
    threshold = serializers.FloatField(source="job.threshold", allow_null=True)
    faces_found = serializers.IntegerField(source="job.faces_found")
    model_version = serializers.CharField(source="job.model_version", allow_null=True)
    error_code = serializers.CharField(source="job.error_code", allow_null=True)
    error_message = serializers.CharField(source="job.error_message", allow_null=True)
    queued_at = serializers.DateTimeField(source="job.queued_at")
    started_at = serializers.DateTimeField(source="job.started_at", allow_null=True)
    finished_at = serializers.DateTimeField(source="job.finished_at", allow_null=True)
    webhook = serializers.SerializerMethodField()
    provenance = serializers.SerializerMethodField()  # issue 22
    verdict_driver = serializers.SerializerMethodField()  # issue 29
    voice = serializers.SerializerMethodField()
    sync = serializers.SerializerMethodField()

    class Meta:
        model = Media
        fields = ["id", "original_name", "kind", "format", "size", "duration", "width", "height", "sha256",
                  "created", "status", "stage", "stage_label", "progress", "final", "verdict", "verdict_words",
                  "confidence", "reason", "reason_words", "score", "threshold", "clip_parts", "faces_found",
                  "model_version", "error_code", "error_message", "queued_at", "started_at", "finished_at",
                  "webhook", "provenance", "verdict_driver", "voice", "sync"]

    def to_representation(self, media):
        data = super().to_representation(media)
        for key in ("model_version", "error_code", "error_message"):
            data[key] = data[key] or None  # "" on the row means "not yet" or "none"
        return data

    def get_stage_label(self, media) -> str:
        return stage_label(media.job.stage)

    def _verdict(self, media) -> dict:
        return job_outcome(media.job)

    @extend_schema_field(serializers.ChoiceField(choices=verdicts.KEYS, allow_null=True))
    def get_verdict(self, media) -> str | None:
        return self._verdict(media)["verdict"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_verdict_words(self, media) -> str | None:
        return self._verdict(media)["verdict_words"]

    @extend_schema_field(serializers.FloatField(allow_null=True, min_value=0, max_value=1))
    def get_confidence(self, media) -> float | None:
        return self._verdict(media)["confidence"]

    @extend_schema_field(serializers.ChoiceField(choices=list(verdicts.REASONS), allow_null=True))
    def get_reason(self, media) -> str | None:
        return self._verdict(media)["reason"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_reason_words(self, media) -> str | None:
        return self._verdict(media)["reason_words"]

    @extend_schema_field(ClipPartsSerializer(allow_null=True))
    def get_clip_parts(self, media) -> dict | None:
        parts = media.job.clip_parts
        return parts if isinstance(parts, dict) and parts else None

    @extend_schema_field(WebhookSummarySerializer(allow_null=True))
    def get_webhook(self, media):
        try:
            webhook = media.job.webhook
        except ObjectDoesNotExist:
            return None
        return {"url": webhook.url, "state": webhook.state, "attempts": webhook.attempts}

    @extend_schema_field(ProvenanceSerializer(allow_null=True))
    def get_provenance(self, media):
        return provenance_for(media)


    @extend_schema_field(VerdictDriverSerializer)
    def get_verdict_driver(self, media):
        return verdict_driver_data(media.job)

    @extend_schema_field(VoiceSerializer(allow_null=True))
    def get_voice(self, media):
        data = voice_data(media.job, image_url=reverse("detection:spectrogram", args=[media.pk]))
        request = self.context.get("request")
        if data and data["spectrogram_url"] and request is not None:
            data["spectrogram_url"] = request.build_absolute_uri(data["spectrogram_url"])
        return data

    @extend_schema_field(SyncSerializer(allow_null=True))
    def get_sync(self, media):
        return sync_data(media.job)


class AnalysisDetailSerializer(AnalysisSerializer):
    frames = serializers.SerializerMethodField()

    class Meta(AnalysisSerializer.Meta):
        fields = AnalysisSerializer.Meta.fields + ["frames"]

    @extend_schema_field(FrameSerializer(many=True))
    def get_frames(self, media):
        if media.job.status != DetectionJob.Status.DONE:
            return []
        return FrameSerializer(media.job.frames.all(), many=True, context=self.context).data


class AnalysisPageSerializer(serializers.Serializer):
    """One page of the list (for the schema; the paginator writes it)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = AnalysisSerializer(many=True)


class ReportSerializer(AnalysisDetailSerializer):
    timings = serializers.JSONField(source="job.timings")

    class Meta(AnalysisDetailSerializer.Meta):
        fields = AnalysisDetailSerializer.Meta.fields + ["timings"]


class ErrorSerializer(serializers.Serializer):
    """An RFC 9457 problem document (application/problem+json), with the stable ``code`` as an extension."""

    type = serializers.CharField(help_text="urn:deepfake-portal:problem:<code>")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable: not_found, invalid, throttled, unsupported_type, ...")
    errors = serializers.DictField(required=False, help_text="With code invalid: messages per field")
