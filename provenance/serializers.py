"""The API's shape of provenance (the dict of provenance.words.provenance_data), for the OpenAPI schema."""
from rest_framework import serializers

from .models import Provenance


class ActionSerializer(serializers.Serializer):
    action = serializers.CharField(help_text="e.g. c2pa.created, c2pa.edited")
    digital_source_type = serializers.CharField(allow_blank=True, help_text="IPTC key, e.g. trainedAlgorithmicMedia")
    software_agent = serializers.CharField(allow_blank=True)


class IngredientSerializer(serializers.Serializer):
    title = serializers.CharField(allow_blank=True)
    format = serializers.CharField(allow_blank=True)
    relationship = serializers.CharField(allow_blank=True)


class ContentCredentialsSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Provenance.Status.choices)
    detail = serializers.CharField(allow_null=True, help_text="why invalid, damaged or not checked")
    signer = serializers.CharField(allow_null=True)
    signed_at = serializers.CharField(allow_null=True)
    claim_generator = serializers.CharField(allow_null=True)
    digital_source_type = serializers.CharField(allow_null=True)
    says = serializers.CharField(allow_null=True, help_text="what the manifest says about how it was made")
    ai_generated = serializers.BooleanField(help_text="the manifest says an AI tool made it (trusted or not)")
    actions = ActionSerializer(many=True)
    ingredients = IngredientSerializer(many=True)
    validation_codes = serializers.ListField(child=serializers.CharField(), help_text="C2PA failure codes")


class LabelSerializer(serializers.Serializer):
    source = serializers.CharField(help_text="XMP, EXIF, PNG text, container tag, ...")
    field = serializers.CharField()
    value = serializers.CharField()
    meaning = serializers.CharField(allow_blank=True)
    ai = serializers.BooleanField()


class ProvenanceSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Provenance.Status.choices, help_text="Content Credentials status")
    status_label = serializers.CharField()
    summary = serializers.CharField()
    content_credentials = ContentCredentialsSerializer()
    labels = LabelSerializer(many=True, help_text="unsigned metadata labels: anyone can write or strip them")
    labels_summary = serializers.CharField()
    ai_claim = serializers.BooleanField(help_text="valid, trusted Content Credentials say an AI tool made it")
    ai_label = serializers.BooleanField(help_text="an unsigned metadata label says an AI tool made it")
    caveat = serializers.CharField()
