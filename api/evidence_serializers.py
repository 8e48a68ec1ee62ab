"""The API's shape of the voice and lip-sync evidence and of what drove the verdict (issue 29), for the
OpenAPI schema; the dicts come from detection.selectors (the same as the JSON report's)."""
from rest_framework import serializers

from detection.models import EvidenceStatus


class VoiceSecondSerializer(serializers.Serializer):
    start = serializers.FloatField()
    end = serializers.FloatField()
    speech = serializers.FloatField(help_text="share of the second that is speech, 0-1")
    score = serializers.FloatField(allow_null=True, help_text="calibrated P(synthetic); null without speech")


class VoiceSerializer(serializers.Serializer):
    reading = serializers.CharField(allow_null=True, help_text="the voice read on its own, in words")
    status = serializers.ChoiceField(choices=EvidenceStatus.choices)
    status_words = serializers.CharField()
    reason_code = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True)
    score = serializers.FloatField(allow_null=True, help_text="calibrated P(synthetic speech) of the whole clip")
    threshold = serializers.FloatField(allow_null=True)
    synthetic = serializers.BooleanField(allow_null=True, help_text="score at or above threshold")
    model_version = serializers.CharField(allow_null=True)
    duration_seconds = serializers.FloatField()
    speech_seconds = serializers.FloatField()
    speech_share = serializers.FloatField(allow_null=True)
    seconds = VoiceSecondSerializer(many=True)
    spectrogram_url = serializers.CharField(allow_null=True)
    spectrogram_seconds = serializers.FloatField(allow_null=True)


class SyncSegmentSerializer(serializers.Serializer):
    start = serializers.FloatField()
    end = serializers.FloatField()
    offset_s = serializers.FloatField(allow_null=True)
    confidence = serializers.FloatField(allow_null=True)
    score = serializers.FloatField(allow_null=True)


class SyncSerializer(serializers.Serializer):
    reading = serializers.CharField(allow_null=True, help_text="the lip-sync check read on its own, in words")
    status = serializers.ChoiceField(choices=EvidenceStatus.choices)
    status_words = serializers.CharField()
    reason_code = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True)
    score = serializers.FloatField(allow_null=True, help_text="calibrated P(lips out of sync)")
    threshold = serializers.FloatField(allow_null=True)
    out_of_sync = serializers.BooleanField(allow_null=True)
    offset_seconds = serializers.FloatField(allow_null=True, help_text="+: the sound is late")
    method_version = serializers.CharField(allow_null=True)
    segments = SyncSegmentSerializer(many=True)


class VerdictDriverSerializer(serializers.Serializer):
    driver = serializers.ChoiceField(choices=["face", "voice", "sync", "whole_image"], allow_null=True)
    words = serializers.CharField(allow_null=True, help_text='e.g. "synthetic voice", "face manipulated"')
    explanation = serializers.CharField(allow_null=True, help_text="why inconclusive, when it is")
    rule = serializers.CharField(help_text="how the kinds of evidence are combined, in words")


class WholeImageSerializer(serializers.Serializer):
    """Issue 32: an image without a face, read as a whole picture (detection.whole_image.whole_image_data)."""

    reading = serializers.CharField(help_text='"The whole picture looks AI-generated", "... looks camera-made", '
                                              '"... is too close to call", or why it could not be judged')
    judged = serializers.BooleanField()
    verdict = serializers.ChoiceField(choices=["fake", "inconclusive", "authentic"], allow_null=True)
    status = serializers.ChoiceField(choices=EvidenceStatus.choices)
    status_words = serializers.CharField()
    reason_code = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True)
    score = serializers.FloatField(allow_null=True, help_text="P(the picture was generated as a whole)")
    threshold = serializers.FloatField(allow_null=True)
    model_version = serializers.CharField(allow_null=True)
